"""Looking inside a trained Keras model: layer shapes, filters, feature maps, Grad-CAM.

Models follow ``cnn_core.models.cnn``' conventions: a functional ``keras.Model``
whose input is NHWC float32 raw pixels in [0, 255] (rescaled inside the model)
and whose output is a softmax ``Dense``. Conv layers are found by type, never
by name, so VGG16's "block1_conv1" works like "conv1". Only top-level layers
are inspected (a base model nested as one layer shows as that one layer).

The ``Inspector`` is a ``cnn_core.insight.predict.Predictor`` (the same compiled
model call) with compiled feature-map and Grad-CAM views added; every view takes
raw pixels in [0, 255]. Bad arguments from our own code (an unknown layer, a
class index out of range, an image of the wrong shape) raise ValueError.

TensorFlow and Keras are imported inside the functions that need them, so
importing this module is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from cnn_core.base.digests import array_digest
from cnn_core.base.errors import UserError
from cnn_core.base.tf_runtime import import_keras
from cnn_core.insight.predict import Predictor

if TYPE_CHECKING:
    import keras


def format_shape(shape: tuple[int | None, ...]) -> str:
    """Writes a shape without batch axis as the page shows it: (28, 28, 16) -> "28x28x16".

    Unknown dimensions (None) print as "?", and () as "scalar".
    """
    return "x".join("?" if dim is None else str(dim) for dim in shape) or "scalar"


def layer_flow(model: keras.Model) -> list[dict[str, Any]]:
    """Lists the layers in order with what each one outputs.

    Args:
        model: a built functional Keras model.

    Returns:
        One dict per layer, the input first: {"name": str, "kind": class name,
        "shape": output shape tuple without batch, "shape_text": "28x28x16",
        "params": number of weights}.
    """
    flow = []
    if not model.layers or type(model.layers[0]).__name__ != "InputLayer":
        # Keras 3 lists the functional InputLayer itself; this covers models that do not.
        input_shape = tuple(model.inputs[0].shape[1:])
        flow.append({"name": "input", "kind": "InputLayer", "shape": input_shape, "params": 0})
    for layer in model.layers:
        shape, params = tuple(layer.output.shape[1:]), int(layer.count_params())
        flow.append(
            {"name": layer.name, "kind": type(layer).__name__, "shape": shape, "params": params}
        )
    for step in flow:
        step["shape_text"] = format_shape(step["shape"])
    return flow


def _is_conv(layer: keras.layers.Layer) -> bool:
    """True for a 2-D convolution (Conv2D and subclasses such as VGG16's)."""
    return isinstance(layer, import_keras().layers.Conv2D)


def conv_layer_names(model: keras.Model) -> list[str]:
    """Names of the Conv2D layers, input to output (empty for the softmax baseline)."""
    return [layer.name for layer in model.layers if _is_conv(layer)]


def class_count(model: keras.Model) -> int:
    """How many classes the model's softmax output scores (its last axis)."""
    return int(model.outputs[0].shape[-1])


def filter_input_channels(model: keras.Model, layer_name: str) -> int:
    """How many input channels a conv layer's filters read: the valid `input_channel`
    values of `filter_weights` are 0 to this minus 1.

    Raises:
        ValueError: for an unknown or non-conv layer.
    """
    return int(_conv_layer(model, layer_name).kernel.shape[2])  # kernel (kh, kw, C_in, n)


def _conv_layer(model: keras.Model, layer_name: str) -> keras.layers.Layer:
    """The conv layer named `layer_name`, or ValueError naming the conv layers there are."""
    layer = _get_layer(model, layer_name)
    if not _is_conv(layer):
        raise ValueError(
            f"Layer {layer_name!r} is a {type(layer).__name__}, not a convolution; "
            f"conv layers: {', '.join(conv_layer_names(model)) or 'none'}"
        )
    return layer


def _get_layer(model: keras.Model, layer_name: str) -> keras.layers.Layer:
    """Finds a layer by name, or raises ValueError listing what exists."""
    for layer in model.layers:
        if layer.name == layer_name:
            return layer
    names = ", ".join(layer.name for layer in model.layers)
    raise ValueError(f"This model has no layer named {layer_name!r}. Layers: {names}")


def filter_weights(model: keras.Model, layer_name: str, input_channel: int = 0) -> np.ndarray:
    """The kernels of one conv layer as seen by one of its input channels.

    Args:
        model: a built Keras model.
        layer_name: name of a Conv2D layer.
        input_channel: which input channel's slice to show, in [0, C_in).

    Returns:
        float32 (n_filters, kh, kw): filter f's weights on that channel.

    Raises:
        ValueError: for an unknown or non-conv layer, or a bad channel.
    """
    layer = _conv_layer(model, layer_name)
    kernel = np.asarray(layer.kernel.numpy(), dtype=np.float32)  # (kh, kw, C_in, n_filters)
    channels = kernel.shape[2]
    if isinstance(input_channel, bool) or not 0 <= int(input_channel) < channels:
        raise ValueError(
            f"input_channel must be in [0, {channels - 1}] for layer {layer_name!r}. "
            f"Received: input_channel={input_channel!r}"
        )
    return np.transpose(kernel[:, :, int(input_channel), :], (2, 0, 1))


def softmax_templates(model: keras.Model) -> np.ndarray:
    """The weights of a softmax-regression model pictured as one image per class.

    Each class score is a weighted sum of the pixels; reshaping a class's
    weights to the image shows which pixels push towards it (its template).

    Args:
        model: a model whose output Dense reads the flattened input directly
            (Input -> Rescaling -> Flatten -> Dense), e.g. the baseline.

    Returns:
        float32 (num_classes, H, W); the mean over channels when C > 1.

    Raises:
        UserError: when the output layer does not sit on the flattened input.
    """
    keras = import_keras()
    height, width, channels = (int(d) for d in model.inputs[0].shape[1:])
    dense = model.layers[-1]
    dense_layers = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    weights = dense.kernel.numpy() if isinstance(dense, keras.layers.Dense) else None
    if (
        weights is None
        or dense_layers != [dense]
        or conv_layer_names(model)
        or weights.shape[0] != height * width * channels
    ):
        raise UserError(
            "Class templates exist only for the softmax baseline (one Dense layer on the "
            "flattened image); pick a softmax-regression run."
        )
    # Flatten is row-major over (H, W, C), so the kernel rows reshape back to pixels.
    templates = weights.reshape(height, width, channels, -1).mean(axis=2)  # (H, W, K)
    return np.transpose(templates, (2, 0, 1)).astype(np.float32)


class Inspector(Predictor):
    """Compiled views into one loaded model; build once per model and reuse.

    A ``Predictor`` (``probabilities``, ``image_probabilities``: the compiled
    model call) plus a feature extractor (one multi-output model over every
    layer with an (h, w, c) output) and Grad-CAM graphs, each a ``tf.function``
    with a fixed input signature, so each call after the first is a single
    graph run. The last image's feature maps are kept, so drawing every conv
    layer for one image runs the network once.

    Attributes:
        model: the wrapped model.
        input_shape: (H, W, C) the model expects.
        num_classes: size of the softmax output.
        conv_layers: Conv2D layer names, input to output.
        spatial_layers: names of all layers whose output is (h, w, c).
    """

    def __init__(self, model: keras.Model, mirror: bool = False) -> None:
        """Wraps ``model``, a built functional Keras model (see the module docstring);
        ``mirror`` as ``Predictor``'s (its probabilities only: feature maps and Grad-CAM
        look at the image as it is)."""
        super().__init__(model, mirror)
        keras = import_keras()
        import tensorflow as tf  # lazy: keeps TensorFlow off the Home page

        self.conv_layers = conv_layer_names(model)
        skip = ("InputLayer", "Rescaling", "Resizing")  # their "maps" are just the image
        spatial = [
            layer
            for layer in model.layers
            if type(layer).__name__ not in skip and len(layer.output.shape) == 4
        ]
        self.spatial_layers = [layer.name for layer in spatial]
        self._extract = None
        if spatial:
            extractor = keras.Model(model.input, [layer.output for layer in spatial])
            self._extract = tf.function(
                lambda x: tf.nest.flatten(extractor(x, training=False)),
                input_signature=[self._signature],
            )
        self._gradcam_fns: dict[str, Any] = {}
        self._last_maps: tuple[bytes, list[np.ndarray]] | None = None

    def feature_maps(self, layer_name: str, image: np.ndarray) -> np.ndarray:
        """What one layer outputs for one image.

        Args:
            layer_name: any name in ``spatial_layers`` (conv, batch norm, pool...).
            image: float32 (H, W, C) raw pixels in [0, 255].

        Returns:
            float32 (h, w, c): the layer's activations, one map per channel.

        Raises:
            ValueError: for a layer without an (h, w, c) output or a bad image.
        """
        if layer_name not in self.spatial_layers:
            _get_layer(self.model, layer_name)  # unknown name: lists the layers
            raise ValueError(
                f"Layer {layer_name!r} has no feature maps (its output is not h x w x c); "
                f"choose one of: {', '.join(self.spatial_layers) or 'none'}"
            )
        batch = self._batch_of_one(image)
        key = array_digest(batch)
        cached = self._last_maps  # read once: another thread may replace it
        if cached is None or cached[0] != key:
            maps = [tensor.numpy()[0] for tensor in self._extract(batch)]
            cached = (key, maps)
            self._last_maps = cached
        # a copy, so a caller editing it in place cannot corrupt the cache
        return cached[1][self.spatial_layers.index(layer_name)].copy()

    def _gradcam_fn(self, layer_name: str) -> Any:
        """Builds (once per layer) the compiled Grad-CAM graph for ``layer_name``."""
        if layer_name in self._gradcam_fns:
            return self._gradcam_fns[layer_name]
        keras = import_keras()
        import tensorflow as tf  # lazy: keeps TensorFlow off the Home page

        model, head = self.model, self.model.layers[-1]
        # Explain the class logit, not its probability: a confident softmax
        # saturates near 1 and its gradient vanishes (Grad-CAM uses y^c).
        use_logits = (
            isinstance(head, keras.layers.Dense)
            and getattr(head.activation, "__name__", "") == "softmax"
            and len(head.input.shape) == 2
        )
        score_source = head.input if use_logits else model.outputs[0]
        grad_model = keras.Model(
            model.input, [self.model.get_layer(layer_name).output, score_source]
        )
        height, width = self.input_shape[:2]

        signature = [tf.TensorSpec((1, *self.input_shape), tf.float32), tf.TensorSpec((), tf.int32)]

        @tf.function(input_signature=signature)
        def gradcam(x: tf.Tensor, class_index: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            with tf.GradientTape() as tape:
                conv_out, source = grad_model(x, training=False)  # (1, h, w, c), (1, K|D)
                scores = tf.matmul(source, head.kernel) + head.bias if use_logits else source
                predicted = tf.argmax(scores[0], output_type=tf.int32)
                index = tf.where(class_index < 0, predicted, class_index)
                score = scores[0, index]
            grads = tape.gradient(score, conv_out)  # (1, h, w, c)
            channel_weights = tf.reduce_mean(grads, axis=(1, 2))  # (1, c)
            cam = tf.nn.relu(tf.einsum("bhwc,bc->bhw", conv_out, channel_weights))
            cam = tf.image.resize(cam[..., None], (height, width), method="bilinear")[0, ..., 0]
            # (H, W) in [0, 1]; all zeros when nothing supports the class
            return tf.math.divide_no_nan(cam, tf.reduce_max(cam)), index

        self._gradcam_fns[layer_name] = gradcam
        return gradcam

    def gradcam(
        self, image: np.ndarray, class_index: int | None = None, layer_name: str | None = None
    ) -> tuple[np.ndarray, int]:
        """Grad-CAM: where in the image the evidence for a class lies.

        Weights each channel of a conv layer's output by the mean gradient of
        the class score over it, sums the channels, keeps the positive part and
        scales it to the input size (Selvaraju et al., 2017).

        Args:
            image: float32 (H, W, C) raw pixels in [0, 255].
            class_index: class to explain, in [0, num_classes); None: the predicted one.
            layer_name: a layer in ``spatial_layers``; None: the last conv layer.

        Returns:
            (heatmap, class_index): float32 (H, W) in [0, 1] (all zeros when
            nothing in the layer supports the class), and the class explained.

        Raises:
            ValueError: for a model without conv layers, a bad layer, class or image.
        """
        if not self.conv_layers:
            raise ValueError(
                "Grad-CAM needs a convolution layer and this model has none "
                "(the softmax baseline); see its class templates instead."
            )
        layer_name = self.conv_layers[-1] if layer_name is None else layer_name
        if layer_name not in self.spatial_layers:
            raise ValueError(
                f"Grad-CAM needs a layer with an h x w x c output. Received: {layer_name!r}; "
                f"choose one of: {', '.join(self.spatial_layers)}"
            )
        if class_index is None:
            class_index = -1
        elif isinstance(class_index, bool) or not 0 <= int(class_index) < self.num_classes:
            raise ValueError(
                f"class_index must be in [0, {self.num_classes - 1}]. "
                f"Received: class_index={class_index!r}"
            )
        heat, index = self._gradcam_fn(layer_name)(self._batch_of_one(image), np.int32(class_index))
        return heat.numpy().astype(np.float32), int(index)

"""AppTest of the Concepts tab on the selected run's own filters and logits."""

from __future__ import annotations

import numpy as np

from cnn_core.data.registry import load_dataset
from cnn_core.insight import concepts
from cnn_core.models.cnn import load_trained_model
from cnn_core.schema.config import ConvBlock, DenseLayer, ModelSpec
from tests.apptest_support import assert_no_exception, open_app, texts
from tests.run_factory import untrained_model_run

SPEC = ModelSpec(
    kind="cnn",
    conv_blocks=(ConvBlock(3, 5), ConvBlock(4, 3)),
    dense_layers=(DenseLayer(8),),
)


def open_concepts(name: str) -> object:
    at = open_app("pages/inside.py")
    at.selectbox(key="inside_run").select(name).run()
    at.session_state["inside_tab"] = "Concepts"
    at.run()
    assert_no_exception(at)
    return at


def test_concepts_offer_the_runs_first_layer_filters_and_its_logits(
    synthetic_data_dir: object,
) -> None:
    path = untrained_model_run(SPEC, "own parts")
    model = load_trained_model(path / "model.keras")
    at = open_concepts(path.name)
    options = at.selectbox(key="concept_kernel").options
    own = [o for o in options if o.startswith("this run: ")]
    assert own == [f"this run: conv1, filter {i}" for i in range(3)]  # first layer only
    assert "sobel horizontal" in options

    at.selectbox(key="concept_kernel").select("this run: conv1, filter 1").run()
    assert_no_exception(at)
    kernel = concepts.first_layer_filters(model)[1][1]
    grey = concepts.rescaled_grayscale(load_dataset("mnist").x_test[0])
    row, col = at.number_input(key="concept_row").value, at.number_input(key="concept_col").value
    assert (row, col) == concepts.strongest_position(grey, kernel)
    assert "A 5x5 filter this run learned" in texts(at)
    assert any("5x5 kernel" in m.label for m in at.metric)

    at.radio(key="concept_logit_source").set_value("run").run()
    assert_no_exception(at)
    table = next(d.value for d in at.dataframe if "logit z" in d.value.columns)
    mnist = load_dataset("mnist")
    logits, probs = concepts.model_logits(model, mnist.x_test[0].astype("float32"))
    assert list(table.index) == list(mnist.info.class_names)
    np.testing.assert_allclose(table["logit z"], logits, rtol=1e-5)
    np.testing.assert_allclose(table["probability"], probs, rtol=1e-5)


def test_a_softmax_run_keeps_the_textbook_kernels(synthetic_data_dir: object) -> None:
    path = untrained_model_run(ModelSpec(kind="softmax"), "baseline")
    at = open_concepts(path.name)
    assert not [o for o in at.selectbox(key="concept_kernel").options if o.startswith("this run")]
    at.radio(key="concept_logit_source").set_value("run").run()
    assert_no_exception(at)
    assert "Softmax of them gives the model's own probabilities" in texts(at)

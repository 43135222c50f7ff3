"""The user's own images: class folders checked once, kept on disk, streamed to training.

A dataset comes from a folder laid out like Keras' ``image_dataset_from_directory``
expects: ``train/<class>/*.jpg`` (or the class folders at the top), optionally
``test/<class>/...`` for a labelled test set or a flat ``test/`` of unlabeled
images. Importing checks every file with the upload rules of
``cnn_core.data.images.decode_image`` and writes each accepted image, resized to the
chosen square side, as raw uint8 rows to a pixel file beside a ``dataset.json``
manifest in ``<data dir>/my_images/<slug>/``. Nothing but one chunk of images is
ever held in memory: pages read rows through a `PixelStore`, training streams
batches from it through ``tf.data``.

One idea per module, lowest first:

- `options`: how images are stored (`ImageOptions`: side, fit, colour, validation share).
- `names`: dataset keys (``my-<slug>``), slugs, class labels and how they are shown.
- `places`: the data directory, the workspace's ``my_images/`` folder, server folders.
- `layout`: which files of a folder are training, test and unlabeled images.
- `manifest`: the typed ``dataset.json`` (`Manifest`), read and written here only.
- `checking`: decoding every file, skipping the bad and duplicate ones, the pixel rows.
- `importer`: a folder, zip or upload in; a saved dataset (or nothing at all) out.
- `pixels`: `PixelStore`, stored images read on demand.
- `store`: the saved datasets: listed, loaded, described, deleted.
- `summaries`: per-class split counts, sample picks, predictions as CSV, for pages.
- `stream`: a ``tf.data`` pipeline over a `PixelStore`.

`cnn_core.data.registry` lists these datasets beside the built-in ones (keys
``my-<slug>``); nothing here imports the registry. No TensorFlow at import time.
"""

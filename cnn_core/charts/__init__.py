"""Plotly figure builders, grouped by idea: pure functions that return new figures.

- ``style``: the shared look (colours, margins, colour scales, image panels).
- ``data``: images per class in each split, enlarged sample images.
- ``training``: loss and accuracy curves, the running epoch's batch loss.
- ``evaluation``: the clickable confusion matrix.
- ``model_views``: filters, feature maps, Grad-CAM, layer flow, class probabilities.
- ``compare``: several runs' curves overlaid, per-class accuracy side by side.
- ``concepts``: the Concepts tab's panels, kernel demo, marked cells, worked sums.
- ``embedding``: test images on the 2-D PCA map of their penultimate activations.

None of them reads files, imports Streamlit or touches Keras.
"""

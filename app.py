"""CNN Studio: the entry point, navigation over the pages.

Nothing here imports TensorFlow: the Home page paints first, and the pages
that need TensorFlow import it when they are opened.
"""

import streamlit as st

from cnn_core.tf_runtime import configure_environment
from pages._shared.script_cleanup import use_light_cleanup

configure_environment()  # before any page imports TensorFlow
use_light_cleanup()  # no full gc.collect() after every render once Keras is loaded
st.set_page_config(page_title="CNN Studio", page_icon=":material/neurology:", layout="wide")

PAGES = {
    "CNN Studio": [
        st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    ],
    "Build and train": [
        st.Page("pages/data.py", title="Data", icon=":material/photo_library:"),
        st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
        st.Page("pages/runs.py", title="Runs", icon=":material/folder_managed:"),
    ],
    "Evaluate and inspect": [
        st.Page("pages/evaluate.py", title="Evaluate", icon=":material/fact_check:"),
        st.Page("pages/inside.py", title="Inside the CNN", icon=":material/neurology:"),
        st.Page("pages/compare.py", title="Compare", icon=":material/compare:"),
    ],
    "Use": [
        st.Page("pages/predict.py", title="Predict", icon=":material/draw:"),
    ],
}

st.navigation(PAGES).run()

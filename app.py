"""CNN Studio: the entry point, navigation over the pages.

Nothing here imports TensorFlow: the Home page paints first, and the pages
that need TensorFlow import it when they are opened.
"""

import streamlit as st

from cnn_core.base.tf_runtime import configure_environment
from pages._shared.page_registry import sections
from pages._shared.script_cleanup import use_light_cleanup
from pages._shared.workspace_session import choose_workspace_for_page

configure_environment()  # before any page imports TensorFlow
use_light_cleanup()  # no full gc.collect() after every render once Keras is loaded
st.set_page_config(page_title="CNN Studio", page_icon=":material/neurology:", layout="wide")

NAVIGATION = {
    section: [st.Page(p.path, title=p.title, icon=p.icon, default=p.default) for p in entries]
    for section, entries in sections().items()
}  # pages/_shared/page_registry.py declares the pages; Home's cards read the same list

page = st.navigation(NAVIGATION)
choose_workspace_for_page()  # every page sees this session's workspace only
page.run()

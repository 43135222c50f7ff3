"""The session's workspace (private workspaces): chosen once per script run, before any
page reads the run store.

Light on purpose: app.py imports it before the Home page paints.
"""

from __future__ import annotations

import streamlit as st

from cnn_core.base import workspace
from cnn_core.base.errors import UserError

WORKSPACE = "workspace"  # the session's private workspace id, also in the URL as ?ws=<id>
# Set by app.py when it chose the workspace for this run; the page's own check then skips.
WORKSPACE_CHOSEN_BY_APP = "_workspace_chosen_by_app"


def _session_workspace() -> str | None:
    """The workspace of the session whose script runs in this thread (None outside one).

    Fails closed: a session that has not chosen its workspace (a page that skipped
    `use_workspace`) gets an error, never the whole store.

    Raises:
        UserError: inside a session without a workspace.
    """
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    if get_script_run_ctx(suppress_warning=True) is None:
        return None
    chosen = st.session_state.get(WORKSPACE)
    if chosen is None:
        raise UserError("this page did not choose a workspace: open it from the app's menu")
    return chosen


def use_workspace() -> None:
    """With private workspaces (`$CNN_PRIVATE_WORKSPACES`), make `?ws=<id>` this session's
    workspace: kept from the URL when valid, else the session's or a new one, written
    back to the URL. Every run-store call of this session then sees that workspace only."""
    if not workspace.private_enabled():
        return
    workspace.set_resolver(_session_workspace)
    asked = st.query_params.get("ws")
    current = st.session_state.get(WORKSPACE)
    if workspace.valid_workspace_id(asked):
        current = asked
    else:
        if asked is not None:
            st.warning("The workspace id in this link is not valid: this is a new workspace.")
        current = current or workspace.new_workspace_id()
        st.query_params["ws"] = current
    st.session_state[WORKSPACE] = current
    link = f"{(st.context.url or '').split('?')[0]}?ws={current}"
    st.sidebar.caption(
        ":material/lock: **Private workspace**: its runs are yours alone (unless you make "
        f"one public). **Bookmark this link to come back:** [{link}]({link})",
    )


def choose_workspace_for_page() -> None:
    """app.py's call: choose the workspace before the page runs, once per run."""
    use_workspace()
    st.session_state[WORKSPACE_CHOSEN_BY_APP] = True

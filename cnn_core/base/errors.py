"""The one exception type whose text is meant for users."""


class UserError(Exception):
    """A problem the user can fix, with a message safe to show in the UI.

    Pages catch this type and show ``str(error)`` with ``st.error``; every
    other exception is a bug and propagates (to tests, and to the log).
    """

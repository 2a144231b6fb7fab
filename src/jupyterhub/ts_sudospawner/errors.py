"""The one exception type of the package."""


class MediatorError(RuntimeError):
    """A mediator call (or the preparation of one) failed.

    The message names the cause and what to do about it; JupyterHub shows it to the user and logs
    it for the admin.
    """

"""The one exception type of the package, readable by JupyterHub's REST API."""

from tornado import web


class MediatorError(RuntimeError, web.HTTPError):
    """A mediator call (or the preparation of one) failed.

    The message names the cause and what to do about it; JupyterHub shows it to the user and logs
    it for the admin. It is also a tornado HTTPError, so that a start that fails within
    JupyterHub's slow_spawn_timeout answers the REST API with this status and message instead of
    a bare 500: JupyterHub 3.0-5.x write ``log_message % args`` into the JSON body, 6.x
    ``get_message()`` or ``jupyterhub_message``, and the spawn page's failed event reads
    ``jupyterhub_message``.
    """

    def __init__(self, message: str, status_code: int = 500) -> None:
        RuntimeError.__init__(self, message)
        # "%s" and the message as its one argument: tornado's log_message (a property since 6.5)
        # and get_message() then give the message as written, % signs included.
        web.HTTPError.__init__(self, status_code, "%s", message)
        self.jupyterhub_message = message

    def get_message(self) -> str:
        return str(self.args[0])

    def __str__(self) -> str:
        return str(self.args[0])


class InvalidUserOptions(MediatorError):
    """A user option (the launch profile, a Slurm job's choice) the site does not offer: HTTP 400."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 400)

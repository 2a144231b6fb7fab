"""internal_ssl without root: the hub hands the server's key and certificates to the mediator.

JupyterHub creates a key and certificate for each server (and the CA bundle the server must trust)
in files only the hub can read. LocalProcessSpawner moves them into the user's home and chowns them,
which needs root. Here the hub reads them, sends their text in the spawn request
(``"tls": {"key": PEM, "cert": PEM, "ca": PEM}``), and the mediator, already running as the user,
writes them with mode 0600 into a directory of the user's own and points the server's
JUPYTERHUB_SSL_KEYFILE / JUPYTERHUB_SSL_CERTFILE / JUPYTERHUB_SSL_CLIENT_CA at them.
"""

import re
from typing import Dict, Mapping

from .errors import MediatorError

__all__ = ["MAX_PEM_BYTES", "TLS_FILES", "check_pem", "read_tls_files"]

# The most one PEM file may hold; the mediator has the same bound.
MAX_PEM_BYTES = 64 * 1024

# request key -> (JupyterHub's cert_paths key, label its PEM blocks must carry)
TLS_FILES = {
    "key": ("keyfile", "PRIVATE KEY"),
    "cert": ("certfile", "CERTIFICATE"),
    "ca": ("cafile", "CERTIFICATE"),
}

# One or more PEM blocks: printable ASCII lines, BEGIN and END markers (the mediator's rule).
_PEM = re.compile(
    r"(?:[\x20-\x7e]*\r?\n)*-----BEGIN [A-Z0-9 ]+-----\r?\n[\x20-\x7e\r\n]*-----END [A-Z0-9 ]+-----(?:\r?\n[\x20-\x7e\r\n]*)?"
)
_BEGIN = re.compile(r"^-----BEGIN ([A-Z0-9 ]+)-----\r?$", re.MULTILINE)


def check_pem(text: str, label: str, what: str) -> str:
    """text if it is PEM whose blocks are all ``label`` (e.g. "CERTIFICATE"), else MediatorError."""
    if len(text.encode("utf-8")) > MAX_PEM_BYTES:
        raise MediatorError(f"internal_ssl: the {what} is larger than {MAX_PEM_BYTES} bytes; is it really a PEM file?")
    if not _PEM.fullmatch(text):
        raise MediatorError(
            f"internal_ssl: the {what} is not PEM text (-----BEGIN ...----- to -----END ...-----, printable ASCII only)"
        )
    labels = _BEGIN.findall(text)
    if not labels or any(not found.endswith(label) for found in labels):
        raise MediatorError(f"internal_ssl: the {what} should hold {label} blocks, found {', '.join(labels) or 'none'}")
    return text


def read_tls_files(paths: Mapping[str, str]) -> Dict[str, str]:
    """{"key", "cert", "ca"} -> PEM text, from JupyterHub's cert paths (keyfile, certfile, cafile)."""
    result = {}
    for key, (path_key, label) in TLS_FILES.items():
        path = paths.get(path_key)
        what = f"{path_key} {path}"
        if not path:
            raise MediatorError(f"internal_ssl: JupyterHub gave no {path_key} (got {sorted(paths)})")
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_PEM_BYTES + 1)
        except OSError as e:
            raise MediatorError(
                f"internal_ssl: cannot read the {what}: {e.strerror}; the hub user must be able to read "
                "JupyterHub's internal_certs_location"
            ) from None
        if len(data) > MAX_PEM_BYTES:
            raise MediatorError(f"internal_ssl: the {what} is larger than {MAX_PEM_BYTES} bytes; is it really a PEM file?")
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError:
            raise MediatorError(f"internal_ssl: the {what} is not PEM text (it is not ASCII)") from None
        result[key] = check_pem(text, label, what)
    return result

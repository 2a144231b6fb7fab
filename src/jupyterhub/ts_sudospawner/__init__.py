"""ts-sudospawner for JupyterHub: run the hub as an unprivileged user and start each user's server
as that user, through sudo and the ts-sudospawner mediator.

    c.JupyterHub.spawner_class = "ts-sudospawner"          # the entry point (pip-installed)
    c.JupyterHub.spawner_class = "ts_sudospawner.TsSudoSpawner"   # the same, by import path
    c.TsSudoSpawner.mediator_path = "/opt/ts-sudospawner/bin/ts-sudospawner"

Each server as a Slurm job of its user (the site policy's "slurm" section turns Slurm mode on):

    c.JupyterHub.spawner_class = "ts-sudospawner-slurm"    # TsSudoSlurmSpawner
"""

from ._version import __version__
from .errors import InvalidUserOptions, MediatorError
from .mediator.refusals import REFUSAL_KINDS, REFUSAL_PATTERNS, classify_refusal
from .slurm import TsSudoSlurmSpawner
from .spawner import TsSudoSpawner

__all__ = ["__version__", "TsSudoSpawner", "TsSudoSlurmSpawner", "MediatorError", "InvalidUserOptions", "REFUSAL_KINDS", "REFUSAL_PATTERNS", "classify_refusal"]

# jupyterhub_config.py for Slurm mode: JupyterHub runs as an unprivileged user on the hub host and
# starts each user's server as a Slurm batch job of that user, through ts-sudospawner. The sudo
# rule is the same as without Slurm; what a job may be comes from the "slurm" section of the root
# policy (examples/slurm/policy.json, docs/policy.md#slurm). Walkthrough: docs/admin-guide.md, 12.
#
# Setup (as root, on the hub host):
#   npm install -g --prefix /opt/ts-sudospawner ./ts-sudospawner-*.tgz    # on a path the nodes share
#   /usr/bin/python3 -m venv /opt/jupyterhub    # on a path the nodes share
#   /opt/jupyterhub/bin/pip install jupyterhub jupyterlab
#   ln -s /opt/jupyterhub/bin/jupyterhub-singleuser /opt/ts-sudospawner/bin/jupyterhub-singleuser
#   /opt/jupyterhub/bin/pip install --no-index /opt/ts-sudospawner/lib/node_modules/ts-sudospawner/src/jupyterhub
#   install -o root -g root -m 0644 policy.json /etc/ts-sudospawner/config.json
#   /opt/ts-sudospawner/bin/ts-sudospawner sudoers --hub-user jupyterhub --group jupyterhub-users --install
#   /opt/ts-sudospawner/bin/ts-sudospawner check --hub-user jupyterhub --user alice   # rows 18-20: Slurm
import os

c = get_config()  # noqa: F821 (provided by JupyterHub when it loads this file)

# The Slurm spawner (entry point of the pip package); it subclasses TsSudoSpawner, so the
# TsSudoSpawner settings apply to it too.
c.JupyterHub.spawner_class = "ts-sudospawner-slurm"
# Exactly the path the sudoers rule names.
c.TsSudoSpawner.mediator_path = os.environ.get("TS_SUDOSPAWNER_MEDIATOR", "/opt/ts-sudospawner/bin/ts-sudospawner")

# The server runs on a compute node Slurm picks: it listens on all of the node's interfaces (the
# spawner's default, set here to be seen), and the proxy reaches it at NODE:port.
c.Spawner.ip = "0.0.0.0"
# ...and the server calls the hub's API from that node: the hub must listen beyond 127.0.0.1 and
# tell servers a name the nodes resolve to this host (not "localhost").
c.JupyterHub.hub_bind_url = "http://0.0.0.0:8081"
c.JupyterHub.hub_connect_ip = "hub.cluster.example"

# Resources of each job, checked against the policy's maxima before anything is submitted:
c.Spawner.mem_limit = "2G"  # job.memoryMB (whole MiB, rounded up): sbatch --mem
c.Spawner.cpu_limit = 1     # job.cpus (rounded up): sbatch --cpus-per-task
# Unset, each takes the policy's default. Users pick the partition and wall time (and GPUs where
# the policy allows them) on the options form; c.TsSudoSlurmSpawner.slurm_form = False turns it off.

# How long a start may wait: the job queues first (slurm_start_timeout, then it is cancelled with
# the state it was still in, e.g. "PENDING: Resources"), then the server starts on its node.
c.TsSudoSlurmSpawner.slurm_start_timeout = 300
c.Spawner.start_timeout = 420  # the whole start; leave room beyond slurm_start_timeout
c.Spawner.http_timeout = 120   # a server importing Python over a shared file system is slow

# Jobs keep running across hub restarts; the spawner finds them again by their job ids.
c.JupyterHub.cleanup_servers = False
c.JupyterHub.db_url = "sqlite:///jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "jupyterhub_cookie_secret"

# As in examples/jupyterhub/jupyterhub_config.py: PAM as a non-root hub, only the rule's group.
c.JupyterHub.authenticator_class = "pam"
c.PAMAuthenticator.open_sessions = False
c.PAMAuthenticator.allowed_groups = {os.environ.get("TS_SUDOSPAWNER_GROUP", "jupyterhub-users")}

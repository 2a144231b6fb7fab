# jupyterhub_config.py: JupyterHub running as an unprivileged user, starting each user's
# single-user server through ts-sudospawner.
#
# Setup (as root), see docs/hub.md for details:
#   npm install -g --prefix /opt/ts-sudospawner ./ts-sudospawner-*.tgz
#   ln -s "$(command -v jupyterhub-singleuser)" /opt/ts-sudospawner/bin/jupyterhub-singleuser
#   useradd --system --create-home --home-dir /var/lib/jupyterhub jupyterhub
#   groupadd jupyterhub-users && usermod -aG jupyterhub-users alice
#   /opt/ts-sudospawner/bin/ts-sudospawner sudoers --hub-user jupyterhub --group jupyterhub-users --install
#   cp ts_sudospawner_shim.py jupyterhub_config.py /etc/jupyterhub/
# Run (as the hub user, from its home):
#   sudo -u jupyterhub -H sh -c 'cd /var/lib/jupyterhub && jupyterhub -f /etc/jupyterhub/jupyterhub_config.py'
#
# Every value below can be overridden by a later config file (load_subconfig) or on the
# command line; the TS_SUDOSPAWNER_* environment variables are for quick experiments.
import os
import sys

c = get_config()  # noqa: F821 (provided by JupyterHub when it loads this file)

# The shim lives next to this file: make it importable whatever the working directory.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# --- Spawning through ts-sudospawner --------------------------------------------------------
c.JupyterHub.spawner_class = "ts_sudospawner_shim.TsSudoSpawner"
# Exactly the path the sudoers rule names.
c.TsSudoSpawner.mediator_path = os.environ.get("TS_SUDOSPAWNER_MEDIATOR", "/opt/ts-sudospawner/bin/ts-sudospawner")
# c.TsSudoSpawner.sudo_command = ["doas"]         # or ["dzdo"]; default ["sudo"]
# c.TsSudoSpawner.mediator_log_level = "DEBUG"    # the mediator's --logging
# c.TsSudoSpawner.mediator_timeout = 30           # seconds per sudo call
# What runs is fixed by the install (jupyterhub-singleuser next to the mediator): Spawner.cmd is
# not used. Arguments still are:
# c.Spawner.args = ["--NotebookApp.default_url=/tree"]
c.Spawner.start_timeout = 60
c.Spawner.http_timeout = 60
# JupyterHub's stop escalation (the shim keeps LocalProcessSpawner's settings).
c.TsSudoSpawner.interrupt_timeout = 10
c.TsSudoSpawner.term_timeout = 5
c.TsSudoSpawner.kill_timeout = 5

# --- The hub itself -------------------------------------------------------------------------
c.JupyterHub.bind_url = os.environ.get("TS_SUDOSPAWNER_BIND_URL", "http://:8000")
# The hub's own files live in its (hub-user-owned) working directory.
c.JupyterHub.db_url = "sqlite:///jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "jupyterhub_cookie_secret"
# Servers keep running across hub restarts; the shim finds them again from the stored pid.
c.JupyterHub.cleanup_servers = False

# --- Who may log in ------------------------------------------------------------------------
# PAM as a non-root hub: the hub user must be able to read /etc/shadow (e.g. `usermod -aG shadow
# jupyterhub` on Debian) and cannot open PAM sessions.
c.JupyterHub.authenticator_class = "pam"
c.PAMAuthenticator.open_sessions = False
# Only members of the group the sudoers rule names can be started anyway; let exactly them in.
c.PAMAuthenticator.allowed_groups = {os.environ.get("TS_SUDOSPAWNER_GROUP", "jupyterhub-users")}
c.Authenticator.admin_users = set()

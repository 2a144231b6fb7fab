# jupyterhub_config.py: JupyterHub running as an unprivileged user, starting each user's
# single-user server as that user through ts-sudospawner. See docs/hub.md.
#
# Setup (as root):
#   npm install -g --prefix /opt/ts-sudospawner ./ts-sudospawner-*.tgz
#   /usr/bin/python3 -m venv /opt/jupyterhub
#   /opt/jupyterhub/bin/pip install jupyterhub jupyterlab
#   ln -s /opt/jupyterhub/bin/jupyterhub-singleuser /opt/ts-sudospawner/bin/jupyterhub-singleuser
#   /opt/jupyterhub/bin/pip install --no-index /opt/ts-sudospawner/lib/node_modules/ts-sudospawner/src/jupyterhub
#       (into the hub's Python environment; JupyterHub 4.1, 5.x, 6.x)
#   /opt/ts-sudospawner/bin/ts-sudospawner sudoers --hub-user jupyterhub --group jupyterhub-users --install
# Run as the hub user, from its home:
#   sudo -u jupyterhub -H sh -c 'cd ~ && /opt/jupyterhub/bin/jupyterhub -f /etc/jupyterhub/jupyterhub_config.py'
import os

c = get_config()  # noqa: F821 (provided by JupyterHub when it loads this file)

# The spawner (the "jupyterhub.spawners" entry point of the pip package). On Debian's JupyterHub
# 3.0, without pip, load the same module from the npm package instead:
#   import sys; sys.path.insert(0, "/opt/ts-sudospawner/lib/node_modules/ts-sudospawner/src/jupyterhub")
#   c.JupyterHub.spawner_class = "ts_sudospawner.TsSudoSpawner"
c.JupyterHub.spawner_class = "ts-sudospawner"
# Exactly the path the sudoers rule names.
c.TsSudoSpawner.mediator_path = os.environ.get("TS_SUDOSPAWNER_MEDIATOR", "/opt/ts-sudospawner/bin/ts-sudospawner")
# c.TsSudoSpawner.mediator_log_level = "DEBUG"  # the mediator's --logging
# c.TsSudoSpawner.profile_form = "auto"         # launch profiles of /etc/ts-sudospawner/config.json
# c.Spawner.mem_limit = "4G"                    # RLIMIT_DATA of each server process
# c.JupyterHub.internal_ssl = True              # works: the mediator writes the certificates as the user
c.Spawner.start_timeout = 60
c.Spawner.http_timeout = 60

# Servers keep running across hub restarts; the spawner finds them again from its state.
c.JupyterHub.cleanup_servers = False
c.JupyterHub.db_url = "sqlite:///jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "jupyterhub_cookie_secret"

# PAM as a non-root hub: the hub user must be able to read /etc/shadow (Debian: `usermod -aG shadow
# jupyterhub`) and cannot open PAM sessions. Only members of the group the sudoers rule names can
# be started anyway: let exactly them in.
c.JupyterHub.authenticator_class = "pam"
c.PAMAuthenticator.open_sessions = False
c.PAMAuthenticator.allowed_groups = {os.environ.get("TS_SUDOSPAWNER_GROUP", "jupyterhub-users")}

"""JupyterHub spawner that starts single-user servers through ts-sudospawner.

JupyterHub runs as an unprivileged user (say ``jupyterhub``). For every start and every non-zero
signal this spawner runs

    sudo -u USER -nH /opt/ts-sudospawner/bin/ts-sudospawner --logging=INFO

writes one JSON request on its stdin and reads one JSON answer from its stdout. Polling needs no
sudo: ``os.kill(pid, 0)`` answers EPERM for a live process of another user.

Use it with::

    c.JupyterHub.spawner_class = "ts_sudospawner_shim.TsSudoSpawner"
    c.TsSudoSpawner.mediator_path = "/opt/ts-sudospawner/bin/ts-sudospawner"

Works with JupyterHub 3.x and keeps to the Spawner API of 4.x and 5.x: ``start()`` returns
``(ip, port)``, ``poll()`` returns None or an int, the state keeps the pid, and a cancelled
``start()`` (JupyterHub >= 5.1 cancels it at ``start_timeout``) leaves nothing running.
"""

import asyncio
import json
import os
import re
import shlex

from jupyterhub.spawner import LocalProcessSpawner
from jupyterhub.utils import random_port
from traitlets import Float, Integer, List, Unicode, default, validate

__all__ = ["TsSudoSpawner", "MediatorError"]

# The mediator answers with one short line; anything far larger is not the mediator.
_MAX_STDOUT = 1024 * 1024
# stderr kept to explain a failed call (sudo's own complaint comes first).
_MAX_CAPTURE = 64 * 1024
# The same rule as the TypeScript client: no "-" (an option), "#" (a uid), "%" or "+" (groups).
_USERNAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]*\$?$")
_LEVEL_OF_LETTER = {"D": "debug", "T": "debug", "I": "info", "W": "warning", "E": "error", "C": "error"}

# Background tasks (stderr relays, clean-up after a cancelled start) must not be garbage collected
# while they run: asyncio only keeps weak references to tasks.
_background = set()


def _keep(task):
    _background.add(task)
    task.add_done_callback(_background.discard)
    return task


class MediatorError(RuntimeError):
    """A mediator call failed; the message names the cause and the fix."""


def process_alive(pid):
    """Is pid alive, seen from the hub user? EPERM (another user's process) means alive."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    # A zombie has exited but still answers kill(pid, 0) until it is reaped, which never happens
    # where PID 1 does not reap orphans. Unreadable /proc (hidepid): assume alive.
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        return stat[stat.rindex(")") + 1 :].split()[0] != "Z"
    except (OSError, ValueError, IndexError):
        return True


async def _exit_status(proc, timeout):
    """The exit status once proc has exited, or None after timeout seconds.

    Not proc.wait(): asyncio's returns only once every pipe has closed too (seen on Python 3.11), and the
    single-user server keeps the mediator's stderr open for as long as it runs.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while proc.returncode is None:
        if loop.time() >= deadline:
            return None
        await asyncio.sleep(0.02)
    return proc.returncode


def _extract_answer(stdout):
    """The one JSON object on stdout (a site's sudo may add banner lines), or None."""
    candidates = [stdout.strip()] + [line.strip() for line in stdout.splitlines() if line.strip().startswith("{")]
    for text in candidates:
        try:
            value = json.loads(text)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


class _StderrRelay:
    """Copies the mediator's stderr into the hub log, line by line, until the pipe closes.

    The single-user server inherits that pipe, so lines keep coming after the call returned; the
    relay must keep reading, or a full pipe would block the server's logging.
    """

    def __init__(self, stream, log, tag):
        self.captured = ""
        self.capturing = True
        self.closed = asyncio.Event()
        self._stream = stream
        self._log = log
        self._tag = tag

    async def run(self):
        try:
            while True:
                try:
                    raw = await self._stream.readline()
                except ValueError:
                    # a line over the stream limit: take what is there
                    raw = await self._stream.read(64 * 1024)
                if not raw:
                    break
                line = raw.decode("utf8", "replace").rstrip("\r\n")
                if self.capturing and len(self.captured) < _MAX_CAPTURE:
                    self.captured += line + "\n"
                if line.strip():
                    level = _LEVEL_OF_LETTER.get(line[1:2], "info") if line.startswith("[") else "info"
                    getattr(self._log, level)("%s %s", self._tag, line)
        finally:
            self.closed.set()


class TsSudoSpawner(LocalProcessSpawner):
    """Start single-user servers as their users through the ts-sudospawner mediator and sudo."""

    mediator_path = Unicode(
        "/opt/ts-sudospawner/bin/ts-sudospawner",
        help="""The installed ts-sudospawner, exactly as the sudoers rule names it.

        The mediator decides what runs (jupyterhub-singleuser or sudospawner-singleuser next to
        it), so Spawner.cmd is not used.
        """,
    ).tag(config=True)

    sudo_command = List(
        Unicode(),
        default_value=["sudo"],
        help="The privilege tool: ['sudo'], ['doas'], ['dzdo'] or an absolute path.",
    ).tag(config=True)

    sudo_args = List(
        Unicode(),
        help="Options after `-u USER`. Default ['-nH'] (['-n'] for doas). Keep -n: a prompt would hang.",
    ).tag(config=True)

    @default("sudo_args")
    def _default_sudo_args(self):
        return ["-n"] if os.path.basename(self.sudo_command[0]) == "doas" else ["-nH"]

    mediator_log_level = Unicode("INFO", help="--logging level of the mediator.").tag(config=True)

    mediator_timeout = Float(30, help="Seconds one mediator call may take before it is killed.").tag(config=True)

    kill_grace = Integer(5, help="Seconds between SIGTERM and SIGKILL for an abandoned mediator call.").tag(config=True)

    @validate("sudo_command")
    def _validate_sudo_command(self, proposal):
        if not proposal["value"]:
            raise ValueError("sudo_command must name a tool, e.g. ['sudo']")
        return proposal["value"]

    # -- the mediator call -------------------------------------------------------------------

    def _system_user(self):
        name = self.user.name
        if not _USERNAME.match(name):
            raise MediatorError(
                f"user name {name!r} cannot be passed to sudo: map hub names to system users "
                "(Authenticator.username_map) that use only letters, digits, '.', '_', '-', '@'"
            )
        return name

    def _mediator_argv(self):
        return [
            *self.sudo_command,
            "-u",
            self._system_user(),
            *self.sudo_args,
            self.mediator_path,
            f"--logging={self.mediator_log_level.upper()}",
        ]

    def _explain(self, returncode, stdout, stderr):
        """A MediatorError naming the cause and the fix of a failed call."""
        tool = os.path.basename(self.sudo_command[0])
        user = self.user.name
        hub = _hub_user()
        err = stderr.lower()
        tail = " | ".join(stderr.strip().splitlines()[-3:])
        answer = _extract_answer(stdout)
        if answer is not None and answer.get("ok") is False:
            return MediatorError(f"the mediator refused (as {user}): {answer.get('error')}")
        if answer is not None:
            return MediatorError(f"the mediator answered without a usable result: {answer!r}")
        fix = (
            f"run `ts-sudospawner sudoers --hub-user {hub} --users {user} --install` as root "
            f"(or add {user} to the group the rule names), then check with "
            f"`ts-sudospawner check --hub-user {hub} --user {user}`"
        )
        if tool == "doas":
            fix = f"add `permit nopass {hub} as {user} cmd {self.mediator_path}` to /etc/doas.conf"
        asks_password = re.search(r"a password is required|a terminal is required|password for|no tty present|authorization required", err)
        if (asks_password or "command not found" in err) and not _mediator_found(self.mediator_path):
            # sudo -n says "a password is required" for a command it cannot find, too.
            if not self.mediator_path.startswith("/"):
                return MediatorError(
                    f"{tool} could not find {self.mediator_path!r} on its secure_path: set "
                    f"c.TsSudoSpawner.mediator_path to the absolute path of the installed ts-sudospawner [{tail}]"
                )
            return MediatorError(
                f"{tool} could not find the mediator {self.mediator_path}: it does not exist; install ts-sudospawner "
                f"there or fix c.TsSudoSpawner.mediator_path [{tail}]"
            )
        if asks_password:
            return MediatorError(
                f"{tool} asked for a password: the sudoers rule for hub user {hub} does not cover user {user}; {fix} [{tail}]"
            )
        if re.search(r"is not allowed to execute|not in the sudoers file|operation not permitted", err):
            return MediatorError(f"{tool} refused to run {self.mediator_path} as {user} for hub user {hub}; {fix} [{tail}]")
        if re.search(r"unknown user|no passwd entry", err):
            return MediatorError(f"{tool} does not know the user {user}: create the system account [{tail}]")
        if "command not found" in err or "no such file or directory" in err:
            if not self.mediator_path.startswith("/"):
                return MediatorError(
                    f"{tool} could not find {self.mediator_path!r} on its secure_path: set "
                    f"c.TsSudoSpawner.mediator_path to the absolute path of the installed ts-sudospawner [{tail}]"
                )
            return MediatorError(f"{tool} could not find the mediator {self.mediator_path}: install it there or fix mediator_path [{tail}]")
        if stdout.strip():
            return MediatorError(
                f"the mediator's output is not JSON: {stdout.strip()[:300]!r}; is {self.mediator_path} really ts-sudospawner?"
            )
        return MediatorError(f"the mediator exited with status {returncode} without an answer [{tail}]")

    async def _call_mediator(self, request, *, on_late_answer=None):
        """Run one mediator call; return its ok answer (a dict) or raise MediatorError.

        On cancellation or timeout the in-flight sudo gets SIGTERM (sudo relays it to the
        mediator), then SIGKILL; an answer that still arrives with a pid goes to on_late_answer.
        """
        argv = self._mediator_argv()
        self.log.debug("Running %s: %s", " ".join(map(shlex.quote, argv)), request.get("action"))
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except FileNotFoundError:
            raise MediatorError(
                f"{self.sudo_command[0]} is not installed or not on the hub's PATH: install it or set c.TsSudoSpawner.sudo_command"
            ) from None
        relay = _StderrRelay(proc.stderr, self.log, f"[{self.user.name}]")
        _keep(asyncio.ensure_future(relay.run()))
        stdout_parts = []

        async def exchange():
            try:
                proc.stdin.write(json.dumps(request).encode() + b"\n")
                await proc.stdin.drain()
            except (BrokenPipeError, ConnectionResetError):
                pass  # sudo refused before reading; its exit status and stderr tell why
            proc.stdin.close()
            size = 0
            while True:
                chunk = await proc.stdout.read(65536)
                if not chunk:
                    break
                size += len(chunk)
                if size > _MAX_STDOUT:
                    raise MediatorError(f"the mediator wrote more than {_MAX_STDOUT} bytes: is {self.mediator_path} ts-sudospawner?")
                stdout_parts.append(chunk)
            # stdout closed: the mediator is done (or about to be).
            return await _exit_status(proc, 5)

        try:
            returncode = await asyncio.wait_for(exchange(), self.mediator_timeout)
        except asyncio.TimeoutError:
            _keep(asyncio.ensure_future(self._abandon(proc, stdout_parts, on_late_answer)))
            raise MediatorError(
                f"the mediator for {self.user.name} did not answer within {self.mediator_timeout} s; "
                "raise c.TsSudoSpawner.mediator_timeout if this machine is just slow"
            ) from None
        except BaseException:
            # CancelledError (JupyterHub >= 5.1 cancels start() at start_timeout) or our own error:
            # stop the in-flight sudo and clean up whatever it still starts.
            _keep(asyncio.ensure_future(self._abandon(proc, stdout_parts, on_late_answer)))
            raise
        stdout = b"".join(stdout_parts).decode("utf8", "replace")
        answer = _extract_answer(stdout)
        if answer is not None and answer.get("ok") is True:
            relay.capturing = False
            return answer
        # Give sudo's last words a moment to arrive before explaining.
        try:
            await asyncio.wait_for(relay.closed.wait(), 0.25)
        except asyncio.TimeoutError:
            pass
        relay.capturing = False
        raise self._explain(returncode, stdout, relay.captured)

    async def _abandon(self, proc, stdout_parts, on_late_answer):
        self.log.warning("Stopping the abandoned mediator call for %s (sudo pid %s)", self.user.name, proc.pid)
        try:
            proc.terminate()
        except ProcessLookupError:
            pass
        if await _exit_status(proc, self.kill_grace) is None:
            try:
                proc.kill()
            except ProcessLookupError:
                pass
            await _exit_status(proc, 5)
        try:
            rest = await asyncio.wait_for(proc.stdout.read(), 1)
        except (asyncio.TimeoutError, ValueError, OSError):
            rest = b""
        answer = _extract_answer((b"".join(stdout_parts) + rest).decode("utf8", "replace"))
        if answer and answer.get("ok") is True and on_late_answer is not None:
            await on_late_answer(answer)

    async def _stop_late_server(self, answer):
        pid = answer.get("pid")
        if not isinstance(pid, int) or pid <= 1:
            return
        self.log.warning("The cancelled start for %s still started pid %s: stopping it", self.user.name, pid)
        for sig in (15, 9):
            try:
                answer = await self._call_mediator({"action": "kill", "pid": pid, "signal": sig})
            except MediatorError as e:
                self.log.error("Could not stop abandoned server pid %s of %s: %s", pid, self.user.name, e)
                return
            if not answer.get("alive"):
                return
            for _ in range(50):
                if not process_alive(pid):
                    return
                await asyncio.sleep(0.1)

    # -- the Spawner API ---------------------------------------------------------------------

    async def start(self):
        """Start the server as the user; return (ip, port)."""
        if self.cmd and list(self.cmd) != ["jupyterhub-singleuser"]:
            self.log.warning(
                "Spawner.cmd %s is ignored: the mediator runs jupyterhub-singleuser (or sudospawner-singleuser) "
                "installed next to it",
                self.cmd,
            )
        if self.port == 0:
            self.port = random_port()
        request = {
            "action": "spawn",
            "args": [str(arg) for arg in self.get_args()],
            "env": {str(k): str(v) for k, v in self.get_env().items()},
        }
        answer = await self._call_mediator(request, on_late_answer=self._stop_late_server)
        pid = answer.get("pid")
        if not isinstance(pid, int) or pid <= 1:
            raise MediatorError(f"the mediator's spawn answer has no valid pid: {answer!r}")
        self.pid = pid
        self.log.info("Server for %s running as pid %s", self.user.name, pid)
        return (self.ip or "127.0.0.1", self.port)

    async def _signal(self, sig):
        """Send sig to the server; True if it still exists. Signal 0 is answered without sudo."""
        if not self.pid:
            return False
        if sig == 0:
            return process_alive(self.pid)
        answer = await self._call_mediator({"action": "kill", "pid": self.pid, "signal": int(sig)})
        alive = answer.get("alive")
        if not isinstance(alive, bool):
            raise MediatorError(f"the mediator's kill answer has no boolean 'alive': {answer!r}")
        return alive

    async def poll(self):
        """None while the server runs, else 0 (the hub is not its parent: the real status is unknown)."""
        if not self.pid:
            self.clear_state()
            return 0
        if process_alive(self.pid):
            return None
        self.clear_state()
        return 0

    async def stop(self, now=False):
        """SIGINT, SIGTERM, SIGKILL with interrupt_timeout, term_timeout, kill_timeout waits."""
        steps = [(2, self.interrupt_timeout), (15, self.term_timeout), (9, self.kill_timeout)]
        if now:
            steps = steps[1:]
        for sig, timeout in steps:
            if await self.poll() is not None:
                return
            self.log.debug("Sending signal %s to %s (pid %s)", sig, self.user.name, self.pid)
            if not await self._signal(sig):
                self.clear_state()
                return
            await self.wait_for_death(timeout)
        if await self.poll() is None:
            self.log.warning("Server of %s (pid %s) did not exit after SIGKILL", self.user.name, self.pid)

    async def move_certs(self, paths):
        # Staging certificates in the user's home needs root (chown); the hub here is not root.
        raise MediatorError("internal_ssl is not supported with TsSudoSpawner: the hub cannot chown certificates to users")


_DEFAULT_SECURE_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")


def _mediator_found(mediator_path):
    """Does the mediator exist where sudo looks? A path we may not stat counts as found."""
    candidates = [mediator_path] if mediator_path.startswith("/") else [os.path.join(d, mediator_path) for d in _DEFAULT_SECURE_PATH]
    for candidate in candidates:
        try:
            os.stat(candidate)
            return True
        except FileNotFoundError:
            continue
        except OSError:
            return True
    return False


def _hub_user():
    import pwd

    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


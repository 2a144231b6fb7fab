"""TsSudoSpawner: JupyterHub's Spawner contract on top of the ts-sudospawner mediator."""

import asyncio
import os
import pwd
import signal
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable, Dict, List, Mapping, Optional, Set, Tuple, TypeVar

from jupyterhub.spawner import LocalProcessSpawner  # type: ignore[import-untyped]
from jupyterhub.traitlets import ByteSpecification  # type: ignore[import-untyped]
from jupyterhub.utils import random_port  # type: ignore[import-untyped]
from traitlets import Bool, CaselessStrEnum, Float, Integer, List as ListTrait, TraitError, Unicode, default, validate

from .errors import InvalidUserOptions, MediatorError
from .exit_status import describe_status
from .limits import cpu_quota_percent, request_cgroup, request_limits
from .mediator.answers import MAX_PID, answer_stopped, describe_stopped, kill_alive, profile_list, spawn_pid
from .mediator.call import Answer, CallSettings, call_mediator
from .mediator.explain import CallContext
from .mediator.relay import StderrRelay
from .procfs import Liveness, liveness, start_time_of
from .profiles import Profile, is_valid_profile_name, profile_from_form, render_profiles_form
from .progress import Event, ProgressEvents
from .tls import read_tls_files
from .usernames import check_username

if TYPE_CHECKING:  # mypy only: typing has TypeGuard from Python 3.10, the package runs on 3.8
    from typing_extensions import TypeGuard

__all__ = ["TsSudoSpawner"]

MEDIATOR_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "WARN", "ERROR", "CRITICAL", "FATAL", "NONE")
# The longest grace a spawn request may name (MAX_GRACE_SECONDS of src/protocol/wire.ts).
MAX_GRACE_SECONDS = 60.0
# How often start() looks whether the server accepts connections (or died) while it starts.
LISTEN_CHECK_INTERVAL = 0.05
# How long before start_timeout start() stops watching the port and returns, so that JupyterHub
# (which gives up on all of start() at start_timeout) gets its (ip, port) and waits itself.
START_TIMEOUT_MARGIN = 1.0
# How often a stop that cancelled start() looks whether start() has acted on it (_abort_start).
CANCEL_CHECK_INTERVAL = 0.2
# The server's last output lines an early death names.
EARLY_DEATH_LINES = 8

T = TypeVar("T")

# Settings of LocalProcessSpawner that do not apply here are named once per hub process.
_warned: Set[str] = set()


def _warn_once(log: Any, key: str, message: str, *args: Any) -> None:
    if key not in _warned:
        _warned.add(key)
        log.warning(message, *args)


def _note_once(log: Any, key: str, message: str, *args: Any) -> None:
    if key not in _warned:
        _warned.add(key)
        log.info(message, *args)


def _is_int(value: Any) -> "TypeGuard[int]":
    """An int from a stored JSON state (bool is an int to Python, not to us)."""
    return isinstance(value, int) and not isinstance(value, bool)


async def _gone_within(pid: int, start_time: int, seconds: float) -> bool:
    """Whether the process (pid, start_time) ends within seconds, looked at from the hub."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while liveness(pid, start_time) is Liveness.ALIVE:
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(0.1)
    return True


async def _accepts_connections(host: str, port: int) -> bool:
    """Whether something accepts a TCP connection on host:port (closed again at once)."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 1)
    except (OSError, asyncio.TimeoutError):
        return False
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass
    return True


def _hub_user() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


async def _apply_user_options(spawner: "TsSudoSpawner", user_options: Any) -> None:
    """The default Spawner.apply_user_options (JupyterHub 5.3+): check the options before start()."""
    await spawner.check_user_options(user_options)


async def _profiles_options_form(spawner: "TsSudoSpawner") -> str:
    """The default Spawner.options_form: JupyterHub calls it with the spawner and awaits it."""
    return await spawner.render_profiles_options_form()


class TsSudoSpawner(LocalProcessSpawner):  # type: ignore[misc]  # JupyterHub ships no types
    """Start single-user servers as their users through the ts-sudospawner mediator and sudo.

    JupyterHub runs as an unprivileged user. For each start and each signal this spawner runs
    ``sudo -u USER -nH MEDIATOR --logging=LEVEL``, writes one JSON request and reads one JSON
    answer. poll() needs no sudo. What runs is fixed by the install (jupyterhub-singleuser, or
    sudospawner-singleuser, next to the mediator, or a launch profile of the site policy), so
    Spawner.cmd, shell_cmd and popen_kwargs are not used.
    """

    # JupyterHub's Spawner.port trait, as mypy should see it (JupyterHub has no type information).
    port: int

    # -- configuration -------------------------------------------------------------------------

    mediator_path = Unicode(
        "/opt/ts-sudospawner/bin/ts-sudospawner",
        help="""The installed ts-sudospawner, exactly as the sudoers rule names it.

        An absolute path (a bare name is looked up on sudo's secure_path). The mediator decides
        what runs: jupyterhub-singleuser or sudospawner-singleuser next to it, or the executable
        of a launch profile of the root-owned site policy.
        """,
    ).tag(config=True)

    sudo_command = ListTrait(
        Unicode(),
        default_value=["sudo"],
        help="""The privilege tool and any fixed arguments before `-u USER`: ['sudo'] (default),
        ['doas'], ['dzdo'] or an absolute path such as ['/usr/bin/sudo'].""",
    ).tag(config=True)

    sudo_args = ListTrait(
        Unicode(),
        help="""Options between `-u USER` and the mediator. Default ['-nH'] (['-n'] for doas, which has
        no -H). Keep -n: a password prompt would hang the call until mediator_timeout.""",
    ).tag(config=True)

    mediator_log_level = Unicode(
        "INFO",
        help="""The mediator's --logging level: DEBUG, INFO, WARNING, ERROR, CRITICAL or NONE. Its lines
        (and the server's) are relayed into the hub's log at their own level.""",
    ).tag(config=True)

    mediator_timeout = Float(
        30,
        help="""Seconds one mediator call may take before it is abandoned (its sudo is stopped, and a
        server it still starts is stopped too). A spawn answers about 1 s after the server started.""",
    ).tag(config=True)

    start_grace = Float(
        0,
        allow_none=True,
        help="""Seconds the mediator waits for an early exit of the server before it answers a spawn.

        0 (default): it answers as soon as the server was exec'ed, and start() itself watches the
        server until it accepts connections on its port or dies; a death is reported with its exit
        status and the server's last output lines (spawn page and REST API). None: the request
        names no grace, and the site policy's graceSeconds applies (1 s by default, the Python
        sudospawner's behaviour). The site policy's graceSeconds is also the longest a request may
        ask: a larger value here is shortened to it.
        """,
    ).tag(config=True)

    kill_grace = Float(
        5,
        help="Seconds between SIGTERM and SIGKILL when an abandoned mediator call is stopped.",
    ).tag(config=True)

    mediator_concurrency = Integer(
        16,
        help="""Mediator calls this hub runs at once, for all its spawners together; the others wait
        their turn (the wait does not count toward mediator_timeout). Each call is a sudo and a Node
        process of about 45 MB at its peak, and a hub that restarts polls every server at once: in
        Slurm mode each poll is a call. 0 sets no bound. The first call fixes the bound for the hub
        process.""",
    ).tag(config=True)

    profile = Unicode(
        "",
        help="""A launch profile of the site policy to use for every server, e.g. "lab".

        Empty (default): the user chooses one on the options form (shown when the policy offers at
        least two profiles, see profile_form), and without a choice the policy's default
        single-user executable runs. When set, users cannot choose and no form is shown. The name
        must be one the mediator lists for the user; the mediator checks it again.
        """,
    ).tag(config=True)

    profile_form = CaselessStrEnum(
        ["auto", "always", "never"],
        default_value="auto",
        help="""When to show the options form with the site policy's launch profiles.

        "auto": when the policy offers at least two; "always": when it offers at least one;
        "never": no form. Only applies while Spawner.options_form is not configured otherwise.
        """,
    ).tag(config=True)

    mem_limit = ByteSpecification(
        None,
        help="""Memory limit of each single-user server, e.g. "2G".

        Sent twice in the spawn request. As "limits": {"data": BYTES}: the mediator's reaper
        applies it as RLIMIT_DATA (setrlimit) to each process of the server (kernels inherit it),
        never above the site policy's limit; an allocation beyond it fails with MemoryError. And as
        "cgroup": {"MemoryMax": BYTES}: where the site policy has a "cgroup" section, the whole
        server tree runs in a cgroup of its own whose MemoryMax is this (never above the site's),
        the sum over all its processes; beyond it the kernel OOM-kills inside that cgroup only.
        Also passed on as MEM_LIMIT in the server's environment.
        """,
    ).tag(config=True)

    cpu_limit = Float(
        None,
        allow_none=True,
        help="""CPU share of each single-user server, in CPUs (1.5 = one and a half CPUs).

        Sent in the spawn request as "cgroup": {"CPUQuota": PERCENT} (percent of one CPU, rounded
        up: 1.5 -> 150). Enforced where the site policy has a "cgroup" section: the server tree's
        cgroup gets this CPUQuota, never above the site's. Without such a section it is not
        enforced (rlimits cannot cap a CPU share; the site policy's "cpu" limit caps CPU *time*).
        Also passed on as CPU_LIMIT in the server's environment.
        """,
    ).tag(config=True)

    reconcile_at_start = Bool(
        True,
        help="""Before each start, stop the user's servers of the same name that no hub knows.

        JupyterHub saves a spawner's state only after start() returns: a hub killed in between
        leaves a server running that the restarted hub has no pid for. With this on, each start
        asks the mediator (in the same call as the spawn, no extra sudo) to stop first every
        server of this user and server name that carries ts-sudospawner's mark. Servers of the
        Python sudospawner (no mark) and other server names are never touched. Turn it off only
        when more than one hub starts servers for the same users on one host.
        """,
    ).tag(config=True)

    @default("sudo_args")
    def _default_sudo_args(self) -> List[str]:
        return ["-n"] if os.path.basename(self.sudo_command[0]) == "doas" else ["-nH"]

    @default("options_form")
    def _default_options_form(self) -> Any:
        return "" if self.profile_form == "never" else _profiles_options_form

    # Not named _default_options_from_form: JupyterHub 3.0-5.2's passthrough has that name.
    @default("options_from_form")
    def _options_from_form_default(self) -> Any:
        if self.options_form is self._own_options_form:
            return self._own_options_from_form
        # An admin's own options_form: its fields are theirs to read, so JupyterHub's default.
        return self._options_from_admins_form

    # The options_form callable this class installs by default; its fields are read strictly.
    _own_options_form: Any = staticmethod(_profiles_options_form)

    # JupyterHub 5.3+ calls apply_user_options before start() and answers the REST API with 400
    # and our message when it raises an HTTPError (MediatorError is one). Older versions have no
    # such trait: start() checks the same options and raises the same error.
    @default("apply_user_options")
    def _default_apply_user_options(self) -> Any:
        return _apply_user_options

    @validate("sudo_command")
    def _validate_sudo_command(self, proposal: Mapping[str, Any]) -> List[str]:
        value = list(proposal["value"])
        if not value or not value[0]:
            raise TraitError("sudo_command must name a privilege tool, e.g. ['sudo']")
        return value

    @validate("mediator_path")
    def _validate_mediator_path(self, proposal: Mapping[str, Any]) -> str:
        value: str = proposal["value"]
        if not value or "\0" in value:
            raise TraitError("mediator_path must name the installed ts-sudospawner, e.g. /opt/ts-sudospawner/bin/ts-sudospawner")
        if not value.startswith("/") and "/" in value:
            raise TraitError(f"mediator_path {value!r} is relative: use the absolute path the sudoers rule names")
        return value

    @validate("mediator_log_level")
    def _validate_mediator_log_level(self, proposal: Mapping[str, Any]) -> str:
        value: str = proposal["value"].strip().upper()
        if value not in MEDIATOR_LOG_LEVELS:
            raise TraitError(f"mediator_log_level {proposal['value']!r}: use one of DEBUG, INFO, WARNING, ERROR, CRITICAL, NONE")
        return value

    @validate("mediator_timeout", "kill_grace")
    def _validate_positive_seconds(self, proposal: Mapping[str, Any]) -> float:
        value = float(proposal["value"])
        if not value > 0:  # also NaN
            raise TraitError(f"{proposal['trait'].name} {value:g}: use a positive number of seconds")
        return value

    @validate("mediator_concurrency")
    def _validate_concurrency(self, proposal: Mapping[str, Any]) -> int:
        value = int(proposal["value"])
        if value < 0:
            raise TraitError(f"mediator_concurrency {value}: use 0 (no bound) or a positive number of calls")
        return value

    @validate("profile")
    def _validate_profile(self, proposal: Mapping[str, Any]) -> str:
        value: str = proposal["value"]
        if value and not is_valid_profile_name(value):
            raise TraitError(f"profile {value!r} is not a launch profile name (1-64 letters, digits, '.', '_' or '-')")
        return value

    # -- state ----------------------------------------------------------------------------------

    def __init__(self, **kwargs: Any) -> None:
        # Set before super().__init__, which may already touch traits that log or poll.
        self.start_time: Optional[int] = None
        self._progress = ProgressEvents()
        self._server_relay: Optional[StderrRelay] = None
        self._starting = False
        self._tls: Optional[Dict[str, str]] = None
        self._unowned: Optional[str] = None  # why the last kill left the process alone
        self._start_ending = False  # start() is on its way out (failed or cancelled): see _abort_start
        # (pid, start time) of a server a stop could not reach. JupyterHub forgets the server
        # after any stop, so this outlives clear_state() (and a hub restart, in the state) until
        # the server is gone or a later start has stopped it: a server is never simply lost.
        self._unstopped: Optional[Tuple[int, int]] = None
        # Answers that apply_user_options (JupyterHub 5.3+) asked for and start() asks again:
        # action -> (loop time, answer), dropped when start() ends.
        self._start_answers: Dict[str, Tuple[float, Any]] = {}
        # The exit status of the last server once poll() saw it end: kept until the next start,
        # for JupyterHub polls more than once (poll_and_notify, then user_stopped and User.stop).
        self._exit_status: Optional[int] = None
        super().__init__(**kwargs)

    def load_state(self, state: Dict[str, Any]) -> None:
        """Restore pid and start_time; a state with only a pid (the old shim, the Python
        SudoSpawner) is accepted: poll() then checks the pid without its start time."""
        pid = state.get("pid")
        if pid is not None and not (_is_int(pid) and 1 < pid <= MAX_PID):
            self.log.warning("Ignoring invalid pid %r in the stored state of %s", pid, self._tag)
            state = {k: v for k, v in state.items() if k != "pid"}
            self.pid = 0
        super().load_state(state)
        start_time = state.get("start_time")
        self.start_time = start_time if _is_int(start_time) else None
        self._unstopped = self._load_unstopped(state.get("unstopped"))

    def _load_unstopped(self, stored: Any) -> Optional[Tuple[int, int]]:
        if stored is None:
            return None
        pid = stored.get("pid") if isinstance(stored, dict) else None
        start_time = stored.get("start_time") if isinstance(stored, dict) else None
        if not (_is_int(pid) and 1 < pid <= MAX_PID and _is_int(start_time)):
            self.log.warning("Ignoring invalid unstopped server %r in the stored state of %s", stored, self._tag)
            return None
        return (pid, start_time)

    def get_state(self) -> Dict[str, Any]:
        state: Dict[str, Any] = super().get_state()
        if self.pid and self.start_time is not None:
            state["start_time"] = self.start_time
        if self._unstopped is not None:
            pid, start_time = self._unstopped
            state["unstopped"] = {"pid": pid, "start_time": start_time}
        return state

    def clear_state(self) -> None:
        super().clear_state()
        self.start_time = None
        self._server_relay = None
        if not self._starting:
            self._progress.reset()

    # -- the mediator --------------------------------------------------------------------------

    @property
    def _tag(self) -> str:
        return f"[{self.user.name}:{self.name}]" if self.name else f"[{self.user.name}]"

    def _mediator_argv(self) -> List[str]:
        return [
            *self.sudo_command,
            "-u",
            check_username(self.user.name),
            *self.sudo_args,
            self.mediator_path,
            f"--logging={self.mediator_log_level}",
        ]

    def _call_settings(self) -> CallSettings:
        context = CallContext(
            argv=self._mediator_argv(),
            tool=os.path.basename(self.sudo_command[0]),
            user=self.user.name,
            hub_user=_hub_user(),
            mediator_path=self.mediator_path,
        )
        return CallSettings(context, self.log, self._tag, self.mediator_timeout, self.kill_grace, self.mediator_concurrency)

    async def _call(self, request: Dict[str, Any], on_late_answer: Any = None) -> Tuple[Answer, StderrRelay]:
        return await call_mediator(self._call_settings(), request, on_late_answer)

    async def _stop_late_server(self, answer: Answer) -> None:
        """A cancelled or timed-out start still started a server: stop it (SIGTERM, then SIGKILL)."""
        pid = answer.get("pid")
        if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 1:
            return
        self.log.warning("%s the abandoned start still started pid %s: stopping it", self._tag, pid)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                answer, _ = await self._call({"action": "kill", "pid": pid, "signal": int(sig)})
            except MediatorError as e:
                self.log.error("%s could not stop the abandoned server pid %s: %s", self._tag, pid, e)
                return
            if not kill_alive(answer):
                return
            for _ in range(int(max(self.kill_grace, 0.1) * 10)):
                if liveness(pid) is not Liveness.ALIVE:
                    return
                await asyncio.sleep(0.1)
        self.log.error("%s the abandoned server pid %s survived SIGKILL", self._tag, pid)

    # -- launch profiles and the options form --------------------------------------------------

    async def list_profiles(self) -> List[Profile]:
        """The launch profiles the site policy offers this user (a profiles request)."""
        answer, _ = await self._call({"action": "profiles"})
        return profile_list(answer)

    async def render_profiles_options_form(self) -> str:
        """The options form: a choice of launch profiles, or "" (no form) when there is nothing to choose."""
        if self.profile or self.profile_form == "never":
            return ""
        try:
            profiles = await self.list_profiles()
        except MediatorError as e:
            self.log.warning("%s no launch profile form: %s", self._tag, e)
            return ""
        minimum = 1 if self.profile_form == "always" else 2
        if len(profiles) < minimum:
            return ""
        previous = self.user_options.get("profile") if isinstance(self.user_options, dict) else None
        return render_profiles_form(profiles, previous if isinstance(previous, str) else None)

    def _own_options_from_form(self, form_data: Mapping[str, Any]) -> Dict[str, Any]:
        """user_options from our form: {"profile": NAME} (the name is checked again at start)."""
        return dict(profile_from_form(form_data))

    def _options_from_admins_form(self, form_data: Mapping[str, Any]) -> Dict[str, Any]:
        """user_options from an admin's own options_form: what JupyterHub's default makes of the
        form data (passthrough in 3.0-6.x), with the keys this spawner reads checked as ours."""
        jupyterhub_default: Any = getattr(LocalProcessSpawner, "_options_from_form", None)
        parse = jupyterhub_default(self) if jupyterhub_default is not None else (lambda data: data)
        options = dict(parse(form_data))
        options.update(self._own_options_from_form(form_data))
        return options

    # The user_options this spawner reads; JupyterHub's warning still names any other key.
    user_option_names: Tuple[str, ...] = ("profile",)

    async def check_user_options(self, user_options: Any) -> None:
        """Refuse options the site does not offer (InvalidUserOptions: HTTP 400 with the reason)."""
        if not isinstance(user_options, dict):
            raise InvalidUserOptions(f"user options must be a JSON object, not {type(user_options).__name__}")
        unknown = [str(key) for key in user_options if key not in self.user_option_names]
        if unknown:
            # JupyterHub's own words, for the keys no spawner reads.
            self.log.warning("Received unhandled user_options for %s: %s", self._log_name, ", ".join(unknown))
        await self._requested_profile(user_options)

    async def _once_per_start(self, action: str, ask: Callable[[], Awaitable[T]]) -> T:
        """ask()'s answer, asked once for the checks before start() and start() itself: one sudo
        call, not two. Kept until start() ends, at most start_timeout (a start that never came)."""
        now = asyncio.get_running_loop().time()
        cached = self._start_answers.get(action)
        if cached is not None and now - cached[0] < self.start_timeout:
            answer: T = cached[1]
            return answer
        answer = await ask()
        self._start_answers[action] = (now, answer)
        return answer

    async def _requested_profile(self, user_options: Any = None) -> Optional[str]:
        """The profile for this start, checked against the ones the mediator lists for the user."""
        options = self.user_options if user_options is None else user_options
        chosen = options.get("profile") if isinstance(options, dict) else None
        if self.profile:
            if chosen and chosen != self.profile:
                self.log.warning("%s ignoring the chosen profile %r: c.TsSudoSpawner.profile fixes %r", self._tag, chosen, self.profile)
            name: Any = self.profile
        else:
            name = chosen
        if not name:
            return None
        if not is_valid_profile_name(name):
            raise InvalidUserOptions(f"invalid launch profile {str(name)[:80]!r}: choose one of the site's profiles on the spawn page")
        offered = [p.name for p in await self._once_per_start("profiles", self.list_profiles)]
        if name not in offered:
            raise (MediatorError if self.profile else InvalidUserOptions)(
                f"launch profile {name!r} is not one the site policy offers to {self.user.name} "
                f"({', '.join(offered) or 'it offers none'}); choose another on the spawn page"
                + (" or fix c.TsSudoSpawner.profile" if self.profile else "")
            )
        return name

    # -- internal_ssl ---------------------------------------------------------------------------

    async def move_certs(self, paths: Dict[str, str]) -> Dict[str, str]:
        """Keep the text of the key, certificate and CA JupyterHub created, for the spawn request.

        The paths are returned unchanged: the mediator writes the files into a directory of the
        user's own and points the server's JUPYTERHUB_SSL_* variables there.
        """
        self._tls = read_tls_files(paths)
        return paths

    # -- the Spawner API -----------------------------------------------------------------------

    def user_env(self, env: Dict[str, str]) -> Dict[str, str]:
        """USER, and HOME and SHELL where the hub host knows the user (the mediator sets all three
        from the user's passwd entry anyway)."""
        env["USER"] = self.user.name
        try:
            entry = pwd.getpwnam(self.user.name)
        except KeyError:
            return env
        if entry.pw_dir:
            env["HOME"] = entry.pw_dir
        if entry.pw_shell:
            env["SHELL"] = entry.pw_shell
        return env

    # Whether cpu_limit always reaches the server (TsSudoSlurmSpawner asks Slurm for CPUs); for
    # TsSudoSpawner it depends on the site policy's "cgroup" section, which the hub cannot see.
    _enforces_cpu_limit = False

    def _warn_unused_settings(self) -> None:
        name = type(self).__name__
        if self.cmd and list(self.cmd) != ["jupyterhub-singleuser"]:
            _warn_once(
                self.log,
                "cmd",
                "Spawner.cmd %s is ignored by %s: the mediator runs jupyterhub-singleuser (or "
                "sudospawner-singleuser) installed next to it, or a launch profile of the site policy",
                self.cmd,
                name,
            )
        if self.shell_cmd or self.popen_kwargs:
            _warn_once(self.log, "shell", "LocalProcessSpawner.shell_cmd and popen_kwargs are ignored by %s", name)
        if self.cpu_limit and not self._enforces_cpu_limit:
            # The hub cannot see the root policy: say once where the limit takes effect.
            _note_once(
                self.log,
                "cpu_limit",
                "Spawner.cpu_limit=%s is sent as cgroup.CPUQuota=%s%%: enforced where the site policy has a "
                '"cgroup" section; without one it is not enforced (rlimits cannot cap a CPU share)',
                self.cpu_limit,
                cpu_quota_percent(float(self.cpu_limit)),
            )

    def _server_request(self, action: str) -> Dict[str, Any]:
        """A spawn or submit request: the server's arguments and environment, as strings, and its
        name, by which the mediator marks it; with reconcile_at_start, the request to stop first
        what a crashed hub left of this server (start() runs only when the hub has no state for it)."""
        request: Dict[str, Any] = {
            "action": action,
            "args": [str(arg) for arg in self.get_args()],
            "env": {str(k): str(v) for k, v in self.get_env().items()},
            "server": self.name or "",
        }
        if self.reconcile_at_start:
            request["reconcile"] = True
        return request

    def _warn_stopped(self, answer: Answer, jobs: bool = False) -> None:
        """Log at WARNING what reconciliation stopped before this start."""
        stopped = answer_stopped(answer)
        if stopped:
            self.log.warning("%s %s", self._tag, describe_stopped(stopped, self.user.name, self.name or "", jobs))

    async def start(self) -> Tuple[str, int]:
        """Start the server as the user through the mediator; return (ip, port) once it accepts
        connections (or, at http_timeout or shortly before start_timeout, for JupyterHub to wait
        on); raise if it dies first."""
        began = asyncio.get_running_loop().time()
        self._warn_unused_settings()
        self._progress.begin()
        self._starting = True
        self._start_ending = False
        self._start_task = asyncio.current_task()
        try:
            await self._stop_unstopped()
            self._exit_status = None
            if self.port == 0:
                self.port = random_port()
            request = self._server_request("spawn")
            profile = await self._requested_profile()
            if profile:
                request["profile"] = profile
            limits = request_limits(self.mem_limit)
            if limits:
                request["limits"] = limits
            cgroup = request_cgroup(self.mem_limit, self.cpu_limit)
            if cgroup:
                request["cgroup"] = cgroup
            if self.internal_ssl:
                if not self._tls:
                    raise MediatorError("internal_ssl is on, but JupyterHub handed no certificates to move_certs()")
                request["tls"] = dict(self._tls)
            if self.start_grace is not None:
                request["graceSeconds"] = min(max(float(self.start_grace), 0.0), MAX_GRACE_SECONDS)
            how = f" with launch profile {profile}" if profile else ""
            self._progress.add(10, f"Asked the mediator to start the server as {self.user.name}{how}")
            answer, relay = await self._call(request, on_late_answer=self._stop_late_server)
            pid = spawn_pid(answer)
            self._warn_stopped(answer)
            self.pid = pid
            self.start_time = start_time_of(pid)
            self._server_relay = relay
            self.log.info("%s server running as pid %s%s", self._tag, pid, how)
            self._progress.add(60, f"Server started as pid {pid}")
            await self._wait_listening(pid, relay, began)
            self._progress.add(80, "Waiting for the server to answer HTTP", final=True)
        except BaseException:
            self._start_ending = True
            self._progress.finish()
            raise
        finally:
            self._starting = False
            self._start_task = None
            self._start_answers = {}
            self._tls = None  # the key is not kept longer than needed
        return (self.ip or "127.0.0.1", self.port)

    def _connect_host(self) -> str:
        """Where the server is reached from the hub: its ip, or loopback for a wildcard."""
        ip = self.ip or "127.0.0.1"
        if ip in ("0.0.0.0", "*"):
            return "127.0.0.1"
        return "::1" if ip == "::" else ip

    async def _wait_listening(self, pid: int, relay: StderrRelay, began: float) -> None:
        """Wait until the server accepts connections on its port, or fail with why it died.

        JupyterHub itself only notices a server that dies while it waits for HTTP at http_timeout
        ("never showed up"), so start() watches: the reaper's exit line (or the pid gone) ends the
        start at once with the exit status and the server's last lines. After http_timeout without
        either, or shortly before start_timeout (counted from ``began``, when start() began), which
        bounds all of start(), JupyterHub's own wait (http_timeout) takes over.
        """
        loop = asyncio.get_running_loop()
        started = loop.time()
        left = self.start_timeout - (started - began) - START_TIMEOUT_MARGIN
        watch = min(max(self.http_timeout, 1), max(left, 0))
        bound = "http_timeout" if watch >= self.http_timeout else f"{START_TIMEOUT_MARGIN:g} s before start_timeout"
        deadline = started + watch
        host = self._connect_host()
        while loop.time() < deadline:
            status = relay.exits.get(pid)
            if status is None and liveness(pid, self.start_time) is not Liveness.ALIVE:
                status = await relay.wait_for_exit(pid, 0 if relay.closed.is_set() else 2)
                if status is None:
                    raise self._early_death(pid, None, loop.time() - started, relay)
            if status is not None:
                raise self._early_death(pid, status, loop.time() - started, relay)
            if await _accepts_connections(host, self.port):
                return
            await asyncio.sleep(LISTEN_CHECK_INTERVAL)
        self.log.info(
            "%s server pid %s does not accept connections on port %s after %.1f s (%s): leaving the wait to JupyterHub",
            self._tag, pid, self.port, watch, bound,
        )

    def _early_death(self, pid: int, status: Optional[int], seconds: float, relay: StderrRelay) -> MediatorError:
        """The error (and the spawn page's last event) for a server that died before it listened."""
        how = describe_status(status) if status is not None else "ended (exit status unknown)"
        said = [line for line in relay.last_lines() if " ts-sudospawner] " not in line][-EARLY_DEATH_LINES:]
        output = ("; its last output:\n" + "\n".join(said)) if said else "; it printed nothing"
        message = f"The single-user server {how} {seconds:.1f} s after it started, before it accepted connections{output}"
        self._progress.add(90, message)
        self.log.warning("%s %s", self._tag, message)
        error = MediatorError(message)
        # JupyterHub's REST API answers with this instead of a bare 500 where it can.
        setattr(error, "jupyterhub_message", message)
        return error

    async def progress(self) -> AsyncIterator[Event]:
        """Progress events for the spawn page: request sent, server started as pid N, waiting for HTTP."""

        def pending() -> bool:
            return self._starting or bool(getattr(self, "_spawn_pending", False))

        async for event in self._progress.follow(pending):
            yield event

    def _ended(self, status: int) -> int:
        """The server is gone: forget it, keep its exit status for every later poll()."""
        self.clear_state()
        self._exit_status = status
        return status

    async def poll(self) -> Optional[int]:
        """None while the server runs; else its exit status (-N for signal N), 0 when unknown.
        The status stays the answer until the next start: JupyterHub polls an ended server again."""
        if self._starting and not self.pid:
            return None
        if not self.pid:
            if self._exit_status is not None:
                return self._exit_status
            self.clear_state()
            return 0
        pid = self.pid
        state = liveness(pid, self.start_time)
        if state is Liveness.ALIVE:
            return None
        if state is Liveness.REUSED:
            self.log.warning("%s server pid %s is gone: the pid now belongs to a process that started later", self._tag, pid)
            return self._ended(0)
        status = None
        relay = self._server_relay
        if relay is not None:
            status = await relay.wait_for_exit(pid, 0 if relay.closed.is_set() else 0.5)
        if status is None:
            self.log.info("%s server pid %s is no longer running (exit status unknown)", self._tag, pid)
            status = 0
        elif status == 0:
            self.log.info("%s server pid %s %s", self._tag, pid, describe_status(status))
        else:
            self.log.warning("%s server pid %s %s", self._tag, pid, describe_status(status))
        return self._ended(status)

    async def _signal(self, sig: int) -> bool:
        """Send sig to the server; True if it still exists. Signal 0 needs no sudo."""
        if not self.pid:
            return False
        if sig == 0:
            return liveness(self.pid, self.start_time) is Liveness.ALIVE
        return await self._kill(self.pid, sig)

    async def _kill(self, pid: int, sig: int) -> bool:
        """Send sig to pid through the mediator; True if it still exists (else _unowned says
        why the mediator left it alone, if it did)."""
        answer, _ = await self._call({"action": "kill", "pid": pid, "signal": int(sig)})
        alive = kill_alive(answer)
        unowned = answer.get("unowned")
        self._unowned = unowned if not alive and isinstance(unowned, str) else None
        return alive

    def _unreachable_error(self, pid: int, start_time: Optional[int]) -> Optional[MediatorError]:
        """The error for a kill the mediator refused while the hub still sees the server alive.

        Only when the hub's own check agrees (the pid is alive, with the start time stored at
        start, where there is one) and the mediator said why it left the process alone: a reused
        pid is then told apart from a server the mediator will not touch.
        """
        reason = getattr(self, "_unowned", None)
        if reason is None or liveness(pid, start_time) is not Liveness.ALIVE:
            return None
        if reason == "orphaned-python-server":
            why = (
                f"server pid {pid} still runs, but ts-sudospawner may not stop it: it carries no ownership mark "
                "(the Python sudospawner started it) and its Python sudospawner fork is gone"
            )
        elif start_time is not None:
            why = f"server pid {pid} still runs (same start time as when it started), but the mediator does not recognise it as a server of {self.user.name}"
        else:
            return None  # no start time to compare: a reused pid is as likely, as before
        return MediatorError(
            f"{why}. It was NOT stopped. Add \"adopt\": {{\"until\": \"<ISO time>\"}} to the site policy "
            f"(docs/admin-guide.md §10) and stop it again, or stop pid {pid} as root"
        )

    def _keep_unstopped(self, pid: int) -> bool:
        """Remember a server this stop could not end, while the hub still sees it alive.

        JupyterHub's User.stop clears and saves the state after any stop, raised or not: this
        record outlives that (see __init__), and the next start stops the server first.
        """
        started = self.start_time if self.start_time is not None else start_time_of(pid)
        if started is None or liveness(pid, started) is not Liveness.ALIVE:
            return False  # gone, or without a start time a reused pid could block starts for good
        self._unstopped = (pid, started)
        return True

    async def _stop_unstopped(self) -> None:
        """Before a new server starts, stop the one an earlier stop could not reach, or refuse.

        Two servers of one user, one of them without a route, is how a server gets lost: so the
        start first stops it through the mediator (which can once the admin has added `adopt`), and
        refuses with the reason while it cannot. The spawner's own state (the pid, the token
        JupyterHub has just made) is not touched: this is not the server being started.
        """
        if self._unstopped is None:
            return
        pid, start_time = self._unstopped
        if liveness(pid, start_time) is not Liveness.ALIVE:
            self.log.info("%s server pid %s, which an earlier stop could not reach, is gone", self._tag, pid)
            self._unstopped = None
            return
        self.log.warning("%s stopping server pid %s, which an earlier stop could not reach, before starting a new one", self._tag, pid)
        self._progress.add(5, f"Stopping your earlier server (pid {pid}) first")
        for sig, timeout in ((signal.SIGTERM, self.term_timeout), (signal.SIGKILL, self.kill_timeout)):
            if not await self._kill(pid, sig):
                refused = self._unreachable_error(pid, start_time)
                if refused is not None:
                    raise MediatorError(f"No new server was started, because the earlier one still runs: {refused}")
                break
            if await _gone_within(pid, start_time, timeout):
                break
        if liveness(pid, start_time) is Liveness.ALIVE:
            raise MediatorError(f"No new server was started: the earlier server pid {pid} still runs after SIGKILL; stop pid {pid} as root")
        self.log.info("%s server pid %s, which an earlier stop could not reach, is stopped", self._tag, pid)
        self._unstopped = None

    async def _abort_start(self) -> None:
        """A stop while start() still waits for the mediator: JupyterHub before 5.1 does this at
        start_timeout instead of cancelling start(). Cancel the start, so that its sudo is stopped
        and the mediator stops the server it started; a pid that still arrives is stopped below."""
        task = getattr(self, "_start_task", None)
        if task is None or task.done() or task is asyncio.current_task() or self.pid:
            return
        self.log.warning("%s stop requested while the server was still starting: cancelling the start", self._tag)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.mediator_timeout
        while not task.done() and loop.time() < deadline:
            if not self._start_ending:
                # Again while start() has not acted on it: before Python 3.12, asyncio.wait_for
                # drops a cancellation that arrives together with the awaited result.
                task.cancel()
            # asyncio.wait neither raises the start's outcome nor swallows a cancellation of this stop.
            await asyncio.wait({task}, timeout=min(CANCEL_CHECK_INTERVAL, max(deadline - loop.time(), 0)))

    async def stop(self, now: bool = False) -> None:
        """SIGINT, SIGTERM, SIGKILL through the mediator, waiting interrupt_timeout, term_timeout and
        kill_timeout for the server to exit (now=True starts with SIGTERM)."""
        await self._abort_start()
        steps = [(signal.SIGINT, self.interrupt_timeout), (signal.SIGTERM, self.term_timeout), (signal.SIGKILL, self.kill_timeout)]
        if now:
            steps = steps[1:]
        for sig, timeout in steps:
            if await self.poll() is not None:
                return
            self.log.debug("%s sending %s to pid %s", self._tag, sig.name, self.pid)
            pid = self.pid
            try:
                alive = await self._signal(sig)
            except MediatorError as e:
                if await self.poll() is not None:
                    # The call failed, yet the server has ended (the signal arrived, the answer did not).
                    self.log.warning("%s the %s call for server pid %s failed (%s), but the server has ended", self._tag, sig.name, pid, e)
                    return
                if self._keep_unstopped(pid):
                    self.log.error(
                        "%s could not send %s to server pid %s, which still runs: %s. It is kept (\"unstopped\" in its "
                        "state) and the user's next start stops it first; fix the cause, or stop it as root: kill %s",
                        self._tag, sig.name, pid, e, pid,
                    )
                raise
            if not alive:
                unreachable = self._unreachable_error(pid, self.start_time)
                if unreachable is not None:
                    # JupyterHub 3.0-6.1 swallow this exception in stop_single_user (the DELETE
                    # still answers 204) and forget the server: the log line says it all, and the
                    # next start() stops it first (_stop_unstopped).
                    self._keep_unstopped(pid)
                    self.log.error("%s %s", self._tag, unreachable)
                    raise unreachable
                if await self.poll() is None:
                    self.clear_state()  # the mediator no longer sees it as this user's process
                return
            await self.wait_for_death(timeout)
        pid = self.pid
        if await self.poll() is None:
            self._keep_unstopped(pid)
            message = (
                f"server pid {pid} still runs after SIGKILL (stuck in the kernel?); it is kept (\"unstopped\" in its "
                f"state) and the user's next start stops it first; or stop it as root: kill -9 {pid}"
            )
            self.log.error("%s %s", self._tag, message)
            raise MediatorError(message)

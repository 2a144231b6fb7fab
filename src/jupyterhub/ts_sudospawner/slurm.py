"""TsSudoSlurmSpawner: each single-user server as a Slurm batch job, through the ts-sudospawner
mediator (docs/protocol.md, "Slurm mode"; docs/hub.md, "TsSudoSlurmSpawner").

The hub never runs sbatch, squeue or scancel itself and passes no environment through sudo: every
action is one mediator call as the user (submit, query, cancel, slurm-options), through the same
sudo rule, command line, stderr relay and error explanations as TsSudoSpawner.
"""

import asyncio
import math
from typing import Any, Dict, Mapping, Optional, Tuple

from jupyterhub.traitlets import ByteSpecification  # type: ignore[import-untyped]
from jupyterhub.utils import random_port  # type: ignore[import-untyped]
from traitlets import Bool, Float, TraitError, Unicode, default, validate

from .errors import MediatorError
from .mediator.call import Answer, keep_running
from .profiles import profile_from_form
from .slurm_job import (
    MAX_JOB_ID,
    NODE_PATTERN,
    JobStatus,
    SlurmOptions,
    cancelled,
    is_not_our_job,
    is_slurm_outage,
    job_exit_status,
    job_request,
    job_status,
    render_slurm_form,
    slurm_from_form,
    slurm_options,
    submitted_job,
)
from .spawner import TsSudoSpawner

__all__ = ["TsSudoSlurmSpawner"]


async def _slurm_options_form(spawner: "TsSudoSlurmSpawner") -> str:
    """The default Spawner.options_form: JupyterHub calls it with the spawner and awaits it."""
    return await spawner.render_slurm_options_form()


def _valid_job_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_JOB_ID


class TsSudoSlurmSpawner(TsSudoSpawner):
    """Run each single-user server as a Slurm job of its user, through the ts-sudospawner mediator.

    start() submits the job (``{"action":"submit"}``) with the server's arguments and environment,
    then queries it until it runs and returns (node, port). poll() and stop() query and cancel it.
    The job script, the sbatch options and the executable come from the mediator and its root-owned
    site policy (its "slurm" section), never from the hub. The hub picks the port; the server
    listens on all interfaces of its node (ip = 0.0.0.0), where the hub and proxy reach it.
    """

    _enforces_cpu_limit = True

    # -- configuration -------------------------------------------------------------------------

    ip = Unicode(
        "0.0.0.0",
        help="""The address the single-user server listens on, on its compute node.

        Default "0.0.0.0" (all interfaces), not JupyterHub's "127.0.0.1": the server runs on a node
        chosen by Slurm, and the hub and proxy reach it there at the node's name and the port the
        hub picked. Set a narrower address only if every node has it.
        """,
    ).tag(config=True)

    slurm_poll_interval = Float(
        1.0,
        help="""Seconds between two queries of the job (each one mediator call through sudo) while
        start() waits for it to run and while stop() waits for it to end.""",
    ).tag(config=True)

    slurm_start_timeout = Float(
        300,
        help="""Seconds start() waits for the submitted job to run on a node. Then the job is
        cancelled and the start fails, naming the state it was still in (e.g. PENDING: Resources).

        JupyterHub's Spawner.start_timeout covers the whole start; its default here is this value
        plus 120 s. A shorter start_timeout gives up first (JupyterHub >= 5.1 cancels start(), older
        versions call stop()): the job is cancelled then too.
        """,
    ).tag(config=True)

    slurm_stop_timeout = Float(
        60,
        help="""Seconds stop() waits, after cancelling the job, for Slurm to report it ended (Slurm
        sends SIGTERM, and SIGKILL after its KillWait). After that a warning names the job.""",
    ).tag(config=True)

    slurm_form = Bool(
        True,
        help="""Offer the site policy's partitions, a wall time in minutes (default and maximum from
        the policy) and, where the policy allows GPUs, a GPU count on the options form, together with
        the launch profiles (see profile_form). False: every job gets the policy's defaults.
        Only applies while Spawner.options_form is not configured otherwise.""",
    ).tag(config=True)

    mediator_timeout = Float(
        60,
        help="""Seconds one mediator call may take before it is abandoned. In Slurm mode the mediator
        runs sbatch, squeue or scancel, each of which it gives up to 30 s (a busy slurmctld).""",
    ).tag(config=True)

    mem_limit = ByteSpecification(
        None,
        help="""Memory of each job, e.g. "2G": sent as the submit request's job.memoryMB (rounded up
        to whole MiB), which the mediator passes to sbatch as --mem. Never above the site policy's
        slurm.memoryMB.max: a start that would ask for more is refused before anything is submitted.
        Unset: the policy's default. Also passed on as MEM_LIMIT in the server's environment.
        """,
    ).tag(config=True)

    cpu_limit = Float(
        None,
        allow_none=True,
        help="""CPUs of each job: sent as the submit request's job.cpus (rounded up to a whole CPU),
        which the mediator passes to sbatch as --cpus-per-task. Never above the site policy's
        slurm.cpus.max: a start that would ask for more is refused before anything is submitted.
        Unset: the policy's default. Also passed on as CPU_LIMIT in the server's environment.
        """,
    ).tag(config=True)

    @default("start_timeout")
    def _default_start_timeout(self) -> int:
        return int(math.ceil(self.slurm_start_timeout)) + 120

    @default("http_timeout")
    def _default_http_timeout(self) -> int:
        # The job runs before its server answers: on a node, with a shared file system, the
        # server's start (Python imports over NFS) often takes longer than JupyterHub's 30 s.
        return 120

    @default("options_form")
    def _default_options_form(self) -> Any:
        return "" if self.profile_form == "never" and not self.slurm_form else _slurm_options_form

    _own_options_form: Any = staticmethod(_slurm_options_form)

    @validate("slurm_poll_interval")
    def _validate_poll_interval(self, proposal: Mapping[str, Any]) -> float:
        value = float(proposal["value"])
        if not 0.05 <= value <= 600:
            raise TraitError(f"slurm_poll_interval {value:g}: use 0.05 to 600 seconds")
        return value

    @validate("slurm_start_timeout", "slurm_stop_timeout")
    def _validate_timeouts(self, proposal: Mapping[str, Any]) -> float:
        value = float(proposal["value"])
        if not value > 0:
            raise TraitError(f"{proposal['trait'].name} {value:g}: use a positive number of seconds")
        return value

    # -- state ----------------------------------------------------------------------------------

    def __init__(self, **kwargs: Any) -> None:
        # Set before super().__init__, which may already clear or load the state.
        self.job_id: Optional[int] = None
        self.node: Optional[str] = None
        self._picked_port = False
        self._form_options: Optional[SlurmOptions] = None
        # A job a stop could not cancel (the _unstopped of TsSudoSpawner): JupyterHub forgets the
        # job after any stop, so this outlives clear_state() and is stored as "uncancelled_job"
        # until the next poll() or start() has cancelled it. Else it runs to its wall time.
        self._uncancelled: Optional[int] = None
        super().__init__(**kwargs)

    def load_state(self, state: Dict[str, Any]) -> None:
        """Restore job_id, port and node; invalid values are ignored (with a warning)."""
        super().load_state(state)
        job = state.get("job_id")
        if job is not None and not _valid_job_id(job):
            self.log.warning("Ignoring invalid Slurm job id %r in the stored state of %s", job, self._tag)
            job = None
        self.job_id = job
        port = state.get("port")
        if job is not None and isinstance(port, int) and not isinstance(port, bool) and 0 < port < 65536:
            self._picked_port = self._picked_port or self.port == 0
            self.port = port
        node = state.get("node")
        self.node = node if job is not None and isinstance(node, str) and NODE_PATTERN.fullmatch(node) else None
        uncancelled = state.get("uncancelled_job")
        if uncancelled is not None and not _valid_job_id(uncancelled):
            self.log.warning("Ignoring invalid uncancelled Slurm job %r in the stored state of %s", uncancelled, self._tag)
            uncancelled = None
        self._uncancelled = uncancelled

    def get_state(self) -> Dict[str, Any]:
        state = super().get_state()
        if self.job_id is not None:
            state["job_id"] = self.job_id
            if self.port:
                state["port"] = self.port
            if self.node:
                state["node"] = self.node
        if self._uncancelled is not None:
            state["uncancelled_job"] = self._uncancelled
        return state

    def clear_state(self) -> None:
        super().clear_state()
        self.job_id = None
        self.node = None
        if self._picked_port:
            self.port = 0  # the next start picks a port again (the node may differ)
            self._picked_port = False

    # -- mediator calls ------------------------------------------------------------------------

    async def get_slurm_options(self) -> SlurmOptions:
        """What the site policy lets this user's jobs ask for (a slurm-options request as the user)."""
        answer, _ = await self._call({"action": "slurm-options"})
        return slurm_options(answer)

    async def _query(self, job: int) -> JobStatus:
        answer, _ = await self._call({"action": "query", "job": job})
        return job_status(answer)

    async def _cancel(self, job: int) -> bool:
        """Cancel the job; False when it had already ended."""
        answer, _ = await self._call({"action": "cancel", "job": job})
        return cancelled(answer)

    async def _cancel_quietly(self, job: int, why: str) -> None:
        """Cancel a job no start will hand to JupyterHub; if that fails, keep it as a stop does
        (one job at a time), so that the next poll or start cancels it."""
        self.log.warning("%s cancelling Slurm job %s: %s", self._tag, job, why)
        try:
            await self._cancel(job)
        except MediatorError as e:
            if is_not_our_job(str(e)):
                return
            kept = self._uncancelled is None
            if kept:
                self._uncancelled = job
            self.log.error(
                "%s could not cancel Slurm job %s: %s.%s Fix the cause, or cancel it with `scancel %s`",
                self._tag, job, e, " It is kept (\"uncancelled_job\" in its state) and cancelled at the next poll or start." if kept else "", job,
            )

    async def _cancel_uncancelled(self) -> None:
        """Cancel the job an earlier stop could not cancel; raise if that fails again."""
        job = self._uncancelled
        if job is None:
            return
        self.log.warning("%s cancelling Slurm job %s, which an earlier stop could not cancel", self._tag, job)
        try:
            await self._cancel(job)
        except MediatorError as e:
            if not is_not_our_job(str(e)):
                raise
            # Slurm no longer has it as this user's server: nothing left to cancel.
        self.log.info("%s Slurm job %s, which an earlier stop could not cancel, is cancelled or gone", self._tag, job)
        self._uncancelled = None

    async def _cancel_late_job(self, answer: Answer) -> None:
        """An abandoned submit still submitted a job: cancel it."""
        job: Any = answer.get("job")
        if _valid_job_id(job):
            await self._cancel_quietly(job, "its submit was abandoned")

    async def _give_up_job(self, why: str) -> None:
        """A start that fails after the submit leaves nothing queued or running. The cancel goes on
        even if the caller is cancelled again while waiting for it."""
        job = self.job_id
        self.job_id = None
        self.node = None
        if job is not None:
            await asyncio.shield(keep_running(self._cancel_quietly(job, why)))

    # -- the options form ----------------------------------------------------------------------

    async def render_slurm_options_form(self) -> str:
        """The options form: the launch profiles (see profile_form) and the Slurm job's partition,
        wall time and GPUs (see slurm_form); "" when there is nothing to choose."""
        form = await self.render_profiles_options_form()
        if not self.slurm_form:
            return form
        try:
            options = await self.get_slurm_options()
        except MediatorError as e:
            self.log.warning("%s no Slurm job form: %s", self._tag, e)
            return form
        self._form_options = options
        previous = self.user_options if isinstance(self.user_options, dict) else None
        return form + render_slurm_form(options, previous)

    user_option_names: Tuple[str, ...] = ("profile", "partition", "minutes", "gpus")

    async def check_user_options(self, user_options: Any) -> None:
        """The launch profile, and the job's partition, minutes and GPUs against the policy's bounds
        (InvalidUserOptions, HTTP 400); mem_limit and cpu_limit are the admin's (MediatorError, 500)."""
        await super().check_user_options(user_options)
        options = await self._once_per_start("slurm-options", self.get_slurm_options)
        job_request(user_options, self.mem_limit, self.cpu_limit, options)

    def _own_options_from_form(self, form_data: Mapping[str, Any]) -> Dict[str, Any]:
        """user_options from the form: profile, partition, minutes, gpus (checked again at start)."""
        options: Dict[str, Any] = dict(profile_from_form(form_data))
        options.update(slurm_from_form(form_data, self._form_options))
        return options

    # -- the Spawner API -----------------------------------------------------------------------

    async def move_certs(self, paths: Dict[str, str]) -> Dict[str, str]:
        """internal_ssl is not supported in Slurm mode (start() says so); nothing is read."""
        return paths

    async def start(self) -> Tuple[str, int]:
        """Submit the server as a Slurm job; return (node, port) once the job runs."""
        self._warn_unused_settings()
        self._exit_status = None
        self._progress.begin()
        self._starting = True
        self._start_ending = False
        self._start_task = asyncio.current_task()
        try:
            try:
                await self._cancel_uncancelled()
            except MediatorError as e:
                raise MediatorError(
                    f"No new server was started: the earlier Slurm job {self._uncancelled} could not be cancelled: {e}"
                ) from None
            if self.internal_ssl:
                raise MediatorError(
                    "internal_ssl is not supported by TsSudoSlurmSpawner: the mediator writes no certificates "
                    "for Slurm jobs; set c.JupyterHub.internal_ssl = False, or use TsSudoSpawner"
                )
            if self.port == 0:
                self.port = random_port()
                self._picked_port = True
            request = self._server_request("submit")
            profile = await self._requested_profile()
            if profile:
                request["profile"] = profile
            user_options = self.user_options if isinstance(self.user_options, dict) else {}
            options = await self._once_per_start("slurm-options", self.get_slurm_options)
            job = job_request(user_options, self.mem_limit, self.cpu_limit, options)
            if job:
                request["job"] = job
            how = f" with launch profile {profile}" if profile else ""
            self._progress.add(10, f"Asked the mediator to submit a Slurm job as {self.user.name}{how}")
            answer, _ = await self._call(request, on_late_answer=self._cancel_late_job)
            job_id = submitted_job(answer)
            self._warn_stopped(answer, jobs=True)
            self.job_id = job_id
            self.log.info("%s submitted as Slurm job %s%s (%s)", self._tag, job_id, how, job or "the policy's defaults")
            self._progress.add(20, f"Submitted as Slurm job {job_id}")
            node = await self._wait_until_running(job_id)
            self.node = node
            self.log.info("%s Slurm job %s is running on %s, port %s", self._tag, job_id, node, self.port)
            self._progress.add(70, f"Running on node {node}")
            self._progress.add(80, "Waiting for the server to answer HTTP", final=True)
        except asyncio.CancelledError:
            self._start_ending = True
            self._progress.finish()
            await self._give_up_job("the start was cancelled")
            raise
        except BaseException:
            self._start_ending = True
            self._progress.finish()
            await self._give_up_job("the start failed")
            raise
        finally:
            self._starting = False
            self._start_task = None
            self._start_answers = {}
        return (node, self.port)

    async def _wait_until_running(self, job: int) -> str:
        """Query the job until it runs on a node; raise when it ended, or after slurm_start_timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.slurm_start_timeout
        reason: Optional[str] = None
        changes = 0
        while True:
            status = await self._query(job)
            if status.state == "RUNNING" and status.node:
                return status.node
            if job_exit_status(status.state) is not None or status.state == "COMPLETING":
                self.job_id = None  # it ended: nothing to cancel
                why = f" ({status.reason})" if status.reason else ""
                raise MediatorError(
                    f"Slurm job {job} ended before its server started: {status.state}{why}; the server's output "
                    f"is in the file the site policy's slurm.output names, and `sacct -j {job}` tells more"
                )
            if status.state == "PENDING" and status.reason and status.reason != reason:
                reason = status.reason
                self.log.info("%s Slurm job %s is pending: %s", self._tag, job, reason)
                self._progress.add(min(30 + 5 * changes, 60), f"pending: {reason}")
                changes += 1
            if loop.time() >= deadline:
                why = f": {status.reason}" if status.reason else ""
                raise MediatorError(
                    f"Slurm job {job} did not run within {self.slurm_start_timeout:g} s (still {status.state}{why}), "
                    "so it is cancelled; try again later, choose another partition or a shorter wall time, or "
                    "raise c.TsSudoSlurmSpawner.slurm_start_timeout"
                )
            self.log.debug("%s Slurm job %s is %s", self._tag, job, status.state)
            await asyncio.sleep(self.slurm_poll_interval)

    async def _retry_uncancelled(self) -> None:
        try:
            await self._cancel_uncancelled()
        except MediatorError as e:
            self.log.error("%s could not cancel Slurm job %s again (cancel it with `scancel %s`): %s", self._tag, self._uncancelled, self._uncancelled, e)

    async def poll(self) -> Optional[int]:
        """None while the job is queued or runs; else 0 (COMPLETED, or gone) or 1 (any other end),
        the answer until the next start. A query that fails is logged and answered None: the job
        is not given up on a hiccup."""
        if self._starting and self.job_id is None:
            return None
        job = self.job_id
        if job is None:
            await self._retry_uncancelled()
            if self._exit_status is not None:
                return self._exit_status
            self.clear_state()
            return 0
        try:
            status = await self._query(job)
        except MediatorError as e:
            if is_not_our_job(str(e)):
                self.log.warning("%s Slurm job %s is no longer this user's server, taking it as ended: %s", self._tag, job, e)
                return self._ended(1)
            if is_slurm_outage(str(e)):
                self.log.warning(
                    "%s Slurm is not answering about job %s (an outage, not a refusal), taking it as still running; "
                    "run `scontrol ping` and `squeue -u %s` as %s: %s",
                    self._tag, job, self.user.name, self.user.name, e,
                )
                return None
            self.log.warning("%s could not query Slurm job %s, taking it as still running: %s", self._tag, job, e)
            return None
        code = job_exit_status(status.state)
        if code is None:
            if status.node and status.state == "RUNNING":
                self.node = status.node
            return None
        if code == 0:
            self.log.info("%s Slurm job %s has ended (%s)", self._tag, job, status.state)
        else:
            why = f": {status.reason}" if status.reason else ""
            self.log.warning("%s Slurm job %s has ended: %s%s; `sacct -j %s` tells more", self._tag, job, status.state, why, job)
        return self._ended(code)

    async def stop(self, now: bool = False) -> None:
        """Cancel the job, then wait (at most slurm_stop_timeout) until Slurm reports it ended."""
        await self._abort_start()
        job = self.job_id
        if job is None:
            self.clear_state()
            return
        try:
            was_active = await self._cancel(job)
        except MediatorError as e:
            if is_not_our_job(str(e)):
                # Nothing of ours to cancel: the mediator leaves a job that is not its server alone.
                self.log.warning("%s Slurm job %s is no longer this user's server, nothing to cancel: %s", self._tag, job, e)
                self.clear_state()
                return
            self._uncancelled = job
            self.log.error(
                "%s could not cancel Slurm job %s: %s. It is kept (\"uncancelled_job\" in its state) and cancelled at "
                "the next poll or start; fix the cause, or cancel it with `scancel %s`",
                self._tag, job, e, job,
            )
            raise
        if was_active:
            self.log.info("%s cancelled Slurm job %s", self._tag, job)
            await self._wait_until_ended(job)
        if self._uncancelled == job:
            self._uncancelled = None  # an earlier stop of this same job failed; this one did not
        self.clear_state()

    async def _wait_until_ended(self, job: int) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.slurm_stop_timeout
        state = "?"
        while loop.time() < deadline:
            await asyncio.sleep(self.slurm_poll_interval)
            try:
                state = (await self._query(job)).state
            except MediatorError as e:
                self.log.warning("%s could not query the cancelled Slurm job %s: %s", self._tag, job, e)
                return
            if job_exit_status(state) is not None:
                return
        self.log.warning(
            "%s Slurm job %s is still %s %g s after it was cancelled; Slurm ends it after its KillWait "
            "(check with `squeue -j %s`)",
            self._tag,
            job,
            state,
            self.slurm_stop_timeout,
            job,
        )

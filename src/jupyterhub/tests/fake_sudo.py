"""A fake privilege tool for the unit tests: sudo's command line, the mediator's behaviour.

Installed by the tests as an executable named ``sudo`` (or ``doas``) in a temporary directory. It
skips ``-u USER`` and the options after it, checks that the mediator path and ``--logging=LEVEL``
follow, reads one JSON request on stdin and acts on ``scenario.json`` next to itself:

    mode / modes[action]  "mediator" (default): answer like ts-sudospawner
                          "refusal": print the "stderr" text, exit "exit" (default 1), no answer
                          "refuse": answer {"ok": false, "error": ...}, exit 1
                          "stdout": print the "stdout" text as is, exit "exit" (default 0)
                          "hang": never answer
                          "late": spawn, then answer only when sent SIGTERM (or after 60 s)
    profiles              the profiles to list
    server                {"seconds": S, "code": C, "say": [lines], "say_after": [lines],
                           "listen": bool}: the fake server prints "say" on stderr, listens on the
                          port of the request's JUPYTERHUB_SERVICE_URL (unless "listen" is false),
                          sleeps, prints "say_after", exits with C
    reaper_line           write the reaper's exit line when the server exits (default true)
    before                lines to print on stderr before answering
    busy                  seconds every call takes before it acts; each call then appends its
                          start and end (time.monotonic()) to busy.jsonl
    deaf                  kill answers "alive": true and signals nothing (a server that outlives SIGKILL)
    signal_first          a kill sends its signal and waits (up to 5 s) for the pid to end before
                          it acts on its mode: the signal arrived, the call failed anyway
    stopped               what a reconciling spawn or submit answers it stopped first (default [])
    slurm                 the fake Slurm queue of submit, query, cancel and slurm-options:
                          {"options": the slurm-options answer (default: SLURM_OPTIONS),
                           "first_job": the first job id (default 4711),
                           "states": [{"state": S, "reason": R, "node": N}, ...]: what the
                               queries of a job answer, one entry per query, the last repeated
                               (default: RUNNING on node07),
                           "cancelled_states": the same for the queries after a cancel
                               (default: GONE)}
                          submit checks its job object against "options" as the mediator does;
                          "late" mode applies to submit as to spawn.

Every call is appended to calls.jsonl (argv and request); every started pid to pids.txt; the
queue's state is kept in slurm_queue.json.
"""

import fcntl
import json
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def load_scenario():
    try:
        with open(os.path.join(HERE, "scenario.json")) as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


def record(name, line):
    with open(os.path.join(HERE, name), "a") as f:
        f.write(line + "\n")


def answer(obj, code=0):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()
    sys.exit(code)


def signal_and_wait(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return
        except FileNotFoundError:
            return
        time.sleep(0.02)


def reconciled(scenario, request):
    """A reconciling spawn or submit answers what it stopped: the scenario's "stopped" (default none)."""
    return {"stopped": scenario.get("stopped", [])} if request.get("reconcile") is True else {}


def parse_argv(argv):
    """sudo -u USER [OPTIONS] MEDIATOR --logging=LEVEL -> (user, options, mediator, level)."""
    if len(argv) < 4 or argv[0] != "-u":
        sys.stderr.write("fake sudo: usage: -u USER [OPTIONS] MEDIATOR --logging=LEVEL\n")
        sys.exit(64)
    user, rest = argv[1], argv[2:]
    options = []
    while rest and rest[0].startswith("-"):
        options.append(rest.pop(0))
    if len(rest) != 2 or not rest[1].startswith("--logging="):
        sys.stderr.write(f"fake sudo: unexpected mediator command line {rest!r}\n")
        sys.exit(64)
    return user, options, rest[0], rest[1].split("=", 1)[1]


def service_port(request):
    """The port of the server's JUPYTERHUB_SERVICE_URL, or None."""
    from urllib.parse import urlparse

    url = (request.get("env") or {}).get("JUPYTERHUB_SERVICE_URL")
    return urlparse(url).port if url else None


def start_server(spec, reaper_line, port=None):
    """Fork a reaper that starts the server, waits for it and reports its exit; return the pid."""
    listen = port if spec.get("listen", True) else None
    code = (
        "import socket, sys, time\n"
        f"for line in {spec.get('say', [])!r}: print(line, file=sys.stderr, flush=True)\n"
        f"port = {listen!r}\n"
        "if port:\n"
        "    s = socket.socket()\n"
        "    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        "    s.bind(('127.0.0.1', port))\n"
        "    s.listen(8)\n"
        f"time.sleep({float(spec.get('seconds', 300))!r})\n"
        f"for line in {spec.get('say_after', [])!r}: print(line, file=sys.stderr, flush=True)\n"
        f"sys.exit({int(spec.get('code', 0))!r})\n"
    )
    read_end, write_end = os.pipe()
    if os.fork() == 0:  # the reaper
        try:
            os.close(read_end)
            os.setsid()
            devnull = os.open(os.devnull, os.O_RDWR)
            os.dup2(devnull, 0)
            os.dup2(devnull, 1)  # only the answer goes to the hub's stdout, and the hub waits for its end
            server = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL, stdout=2, start_new_session=True)
            os.write(write_end, str(server.pid).encode())
            os.close(write_end)
            status = server.wait()
            if reaper_line:
                how = f"was killed by signal {-status}" if status < 0 else f"exited with status {status}"
                sys.stderr.write(f"[I tsss-reaper] server pid {server.pid} {how}\n")
                sys.stderr.flush()
        finally:
            os._exit(0)
    os.close(write_end)
    pid = int(os.read(read_end, 64).decode())
    os.close(read_end)
    record("pids.txt", str(pid))
    return pid


SLURM_OPTIONS = {
    "partitions": ["debug", "short"],
    "minutes": {"default": 60, "max": 480},
    "memoryMB": {"default": 2048, "max": 8192},
    "cpus": {"default": 1, "max": 4},
    "gpus": {"default": 0, "max": 0},
}
JOB_KEYS = ("minutes", "memoryMB", "cpus", "gpus")


def refuse(error):
    sys.stderr.write(f"[E ts-sudospawner] {error}\n")
    answer({"ok": False, "error": error}, 1)


class Queue:
    """The fake Slurm queue in slurm_queue.json, locked for the duration of one call."""

    def __init__(self):
        self.path = os.path.join(HERE, "slurm_queue.json")
        self.fd = os.open(self.path + ".lock", os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        try:
            with open(self.path) as f:
                self.data = json.load(f)
        except FileNotFoundError:
            self.data = {"next": None, "jobs": {}}

    def save(self):
        with open(self.path, "w") as f:
            json.dump(self.data, f)

    def job(self, job_id):
        return self.data["jobs"].setdefault(str(job_id), {"queries": 0, "cancelled": False, "after_cancel": 0})


def status_of(job, spec, consume=True):
    """The job's status for this query (counted), or for a look at it (consume=False)."""
    key, index = ("cancelled_states", "after_cancel") if job["cancelled"] else ("states", "queries")
    default = [{"state": "GONE"}] if job["cancelled"] else [{"state": "RUNNING", "node": "node07"}]
    states = spec.get(key) or default
    # A look sees the state of the last query (or the first one, before any query).
    position = job[index] if consume else max(job[index] - 1, 0)
    entry = states[min(position, len(states) - 1)]
    if consume:
        job[index] += 1
    return {"state": entry["state"], "reason": entry.get("reason"), "node": entry.get("node")}


def check_submit(request, options):
    """The mediator's checks of a submit request's shape and job object (docs/protocol.md)."""
    unknown = set(request) - {"action", "args", "env", "profile", "job", "server", "reconcile"}
    if unknown:
        refuse(f"unknown key(s) in a submit request: {sorted(unknown)}")
    job = request.get("job", {})
    if not isinstance(job, dict) or set(job) - {"partition", *JOB_KEYS}:
        refuse(f"invalid job object {job!r}")
    if "partition" in job and job["partition"] not in options["partitions"]:
        refuse(f"partition {job['partition']!r} is not offered by the site policy")
    for key in JOB_KEYS:
        if key in job:
            value = job[key]
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                refuse(f"job.{key} must be a whole number, got {value!r}")
            if value > options[key]["max"]:
                refuse(f"job.{key} {value} is above the site policy's maximum {options[key]['max']}")


def slurm(action, request, scenario, mode):
    spec = scenario.get("slurm", {})
    options = spec.get("options", SLURM_OPTIONS)
    if action == "slurm-options":
        answer({"ok": True, **options})
    queue = Queue()
    if action == "submit":
        check_submit(request, options)
        job_id = queue.data["next"] or spec.get("first_job", 4711)
        queue.data["next"] = job_id + 1
        queue.job(job_id)
        queue.save()
        sys.stderr.write(f"[I ts-sudospawner] submitted the server of {request.get('env', {}).get('USER', '?')} as Slurm job {job_id}\n")
        sys.stderr.flush()
        if mode == "late":
            os.close(queue.fd)  # unlock: the hub's cancel must get through
            answer_late({"ok": True, "job": job_id})
        answer({"ok": True, "job": job_id, **reconciled(scenario, request)})
    job_id = request.get("job")
    if not isinstance(job_id, int) or isinstance(job_id, bool) or job_id < 1:
        refuse(f"invalid job id {job_id!r}")
    job = queue.job(job_id)
    if action == "query":
        status = status_of(job, spec)
        queue.save()
        answer({"ok": True, **status})
    if action == "cancel":
        status = status_of(job, spec, consume=False)
        active = status["state"] in ("PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED")
        if active:
            job["cancelled"] = True
        queue.save()
        answer({"ok": True, "cancelled": active})


# "late" mode: a SIGTERM that arrives before the answer is ready is remembered, not fatal (the
# hub may abandon the call as soon as it is recorded, before the server or job exists).
_TERMINATED = []


def answer_late(payload):
    """Answer when sent SIGTERM (at once if it came already), or after 60 s."""
    if _TERMINATED:
        answer(payload)
    signal.signal(signal.SIGTERM, lambda *_: answer(payload))
    time.sleep(60)
    answer(payload)


def main():
    user, options, mediator, level = parse_argv(sys.argv[1:])
    request = json.loads(sys.stdin.read())
    scenario = load_scenario()
    action = request.get("action")
    mode = scenario.get("modes", {}).get(action, scenario.get("mode", "mediator"))
    if mode == "late":
        signal.signal(signal.SIGTERM, lambda *_: _TERMINATED.append(True))
    record("calls.jsonl", json.dumps({"argv": sys.argv[1:], "user": user, "pid": os.getpid(), "request": request}))
    for line in scenario.get("before", []):
        sys.stderr.write(line + "\n")
    sys.stderr.flush()
    if action == "kill" and scenario.get("signal_first"):
        signal_and_wait(request["pid"], request["signal"])
    if "busy" in scenario:
        began = time.monotonic()
        time.sleep(scenario["busy"])
        record("busy.jsonl", json.dumps({"start": began, "end": time.monotonic()}))

    if mode == "refusal":
        sys.stderr.write(scenario.get("stderr", "sudo: a password is required\n"))
        sys.exit(scenario.get("exit", 1))
    if mode == "refuse":
        sys.stderr.write(f"[E ts-sudospawner] {scenario.get('error', 'refused')}\n")
        answer({"ok": False, "error": scenario.get("error", "refused")}, 1)
    if mode == "stdout":
        sys.stdout.write(scenario.get("stdout", ""))
        sys.exit(scenario.get("exit", 0))
    if mode == "hang":
        time.sleep(600)
        sys.exit(1)

    if action == "spawn":
        pid = start_server(scenario.get("server", {}), scenario.get("reaper_line", True), service_port(request))
        sys.stderr.write(f"[I ts-sudospawner] server started as pid {pid}\n")
        sys.stderr.flush()
        if mode == "late":
            answer_late({"ok": True, "pid": pid})
        answer({"ok": True, "pid": pid, **reconciled(scenario, request)})
    if action == "kill":
        if "unowned" in scenario:  # the mediator leaves a process alone that is not its own
            answer({"ok": True, "alive": False, "unowned": scenario["unowned"]})
        if scenario.get("deaf"):
            answer({"ok": True, "alive": True})
        try:
            os.kill(request["pid"], request["signal"])
        except ProcessLookupError:
            answer({"ok": True, "alive": False})
        answer({"ok": True, "alive": True})
    if action == "profiles":
        answer({"ok": True, "profiles": scenario.get("profiles", [])})
    if action in ("submit", "query", "cancel", "slurm-options"):
        slurm(action, request, scenario, mode)
    answer({"ok": False, "error": f"unknown action {action!r}"}, 1)


if __name__ == "__main__":
    main()

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
    server                {"seconds": S, "code": C, "say": [lines], "say_after": [lines]}: the fake
                          server prints "say" on stderr, sleeps, prints "say_after", exits with C
    reaper_line           write the reaper's exit line when the server exits (default true)
    before                lines to print on stderr before answering

Every call is appended to calls.jsonl (argv and request); every started pid to pids.txt.
"""

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


def start_server(spec, reaper_line):
    """Fork a reaper that starts the server, waits for it and reports its exit; return the pid."""
    code = (
        "import sys, time\n"
        f"for line in {spec.get('say', [])!r}: print(line, file=sys.stderr, flush=True)\n"
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


def main():
    user, options, mediator, level = parse_argv(sys.argv[1:])
    request = json.loads(sys.stdin.read())
    record("calls.jsonl", json.dumps({"argv": sys.argv[1:], "user": user, "pid": os.getpid(), "request": request}))
    scenario = load_scenario()
    action = request.get("action")
    mode = scenario.get("modes", {}).get(action, scenario.get("mode", "mediator"))
    for line in scenario.get("before", []):
        sys.stderr.write(line + "\n")
    sys.stderr.flush()

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
        pid = start_server(scenario.get("server", {}), scenario.get("reaper_line", True))
        sys.stderr.write(f"[I ts-sudospawner] server started as pid {pid}\n")
        sys.stderr.flush()
        if mode == "late":
            signal.signal(signal.SIGTERM, lambda *_: answer({"ok": True, "pid": pid}))
            time.sleep(60)
        answer({"ok": True, "pid": pid})
    if action == "kill":
        try:
            os.kill(request["pid"], request["signal"])
        except ProcessLookupError:
            answer({"ok": True, "alive": False})
        answer({"ok": True, "alive": True})
    if action == "profiles":
        answer({"ok": True, "profiles": scenario.get("profiles", [])})
    answer({"ok": False, "error": f"unknown action {action!r}"}, 1)


if __name__ == "__main__":
    main()

"""The `pyrunc` command is pyrunc-front (csrc/pyrunc-front.c): state, kill, start and delete
in C, everything else handed to the Python runtime `pyrunc-py` beside it.  These tests hold
the two to the same answers: the same state document byte for byte, the same errors, and
every case the front does not take plainly reaching Python."""

import json
import os
import subprocess
import time

import pytest

from conftest import PYRUNC

PYRUNC_PY = PYRUNC + "-py"

pytestmark = pytest.mark.skipif(not os.path.exists(PYRUNC_PY),
                                reason="pyrunc-py missing: pip install the tree")


def py(env, *args, environ=None, **kw):
    """The same call through the Python runtime."""
    import tempfile
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        cp = subprocess.run([PYRUNC_PY, "--root", env.root] + list(args), stdout=out, stderr=err,
                            text=True, timeout=60, env=environ, **kw)
        out.seek(0)
        err.seek(0)
        from conftest import Result
        return Result(cp.returncode, out.read(), err.read())


def is_front(path):
    with open(path, "rb") as f:
        return f.read(4) == b"\x7fELF"


def test_the_command_is_the_front():
    assert is_front(PYRUNC), "the pyrunc command should be pyrunc-front (pip installs it)"


def test_state_is_the_same_in_every_status(env):
    ann = {"org.example/escaped": 'quote " backslash \\ tab \t', "unicode": "é ☃", "k": "v"}
    b = env.bundle(["sleep", "1000"], patch=lambda c: c.update(annotations=ann))
    cid = env.new_id()
    assert env.pyrunc("create", "--bundle", b, cid).rc == 0
    for action, want in [(None, "created"), ("start", "running"), ("pause", "paused"),
                         ("resume", "running"), ("kill", "stopped")]:
        if action == "kill":
            assert env.pyrunc("kill", cid, "KILL").rc == 0
            for _ in range(200):
                if json.loads(env.pyrunc("state", cid).out)["status"] == "stopped":
                    break
                time.sleep(0.01)
        elif action:
            assert env.pyrunc(action, cid).rc == 0
        front, python = env.pyrunc("state", cid), py(env, "state", cid)
        assert front.rc == python.rc == 0, (front, python)
        assert front.out == python.out, (front.out, python.out)
        doc = json.loads(front.out)
        assert doc["status"] == want and doc["annotations"] == ann
    assert env.pyrunc("delete", cid).rc == 0


@pytest.mark.parametrize("args", [["state", "nope"], ["kill", "nope"], ["start", "nope"],
                                  ["delete", "nope"], ["state", "../x"], ["kill", "nope", "NOSIG"]],
                         ids=lambda a: "-".join(a))
def test_errors_come_from_python(env, tmp_path, args):
    """Whatever the front cannot answer plainly is Python's, errors included, with --log."""
    log = tmp_path / "log.json"
    r = env.pyrunc("--log", str(log), "--log-format", "json", *args)
    p = py(env, *args)
    assert r.rc == p.rc == 1 and r.err == p.err and r.err.startswith("pyrunc: "), (r, p)
    assert json.loads(log.read_text().splitlines()[-1])["level"] == "error"


def test_delete_force_of_nothing_succeeds(env):
    assert env.pyrunc("delete", "--force", env.new_id()).rc == 0


def test_kill_and_delete_follow_the_status(env):
    b = env.bundle(["sleep", "1000"])
    cid = env.new_id()
    assert env.pyrunc("run", "-d", "--bundle", b, cid).rc == 0
    r = env.pyrunc("delete", cid)  # running, no --force: Python's error
    assert r.rc == 1 and "not stopped: running" in r.err, r
    assert env.pyrunc("kill", cid, "9").rc == 0
    for _ in range(200):
        if env.state(cid)["status"] == "stopped":
            break
        time.sleep(0.01)
    r = env.pyrunc("kill", cid, "TERM")  # stopped: the spec's error, from Python
    assert r.rc == 1 and "container not running" in r.err, r
    pid_dirs = env.cgroup_dirs()
    assert env.pyrunc("delete", cid).rc == 0
    assert not os.path.isdir(os.path.join(env.root, cid))
    assert all(not os.listdir(d) or not any(os.path.isdir(os.path.join(d, s)) for s in os.listdir(d))
               for d in pid_dirs if os.path.isdir(d))


def test_kill_all_and_signal_forms(env):
    """--all and real-time signals go to Python; names with and without SIG, any case, and
    numbers are the front's."""
    b = env.bundle(["sh", "-c", "trap 'echo USR1 >> /tmp/got' USR1; trap 'echo USR2 >> /tmp/got' USR2; "
                    "trap 'echo HUP >> /tmp/got' HUP; while :; do sleep 0.05; done"],
                   patch=lambda c: c["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}))
    cid = env.new_id()
    assert env.pyrunc("run", "-d", "--bundle", b, cid).rc == 0
    time.sleep(0.2)
    for sig in ("usr1", "SIGUSR2", "1"):
        assert env.pyrunc("kill", cid, sig).rc == 0
        time.sleep(0.15)
    got = env.pyrunc("exec", cid, "cat", "/tmp/got").out.split()
    assert got == ["USR1", "USR2", "HUP"], got
    assert env.pyrunc("kill", "--all", cid, "KILL").rc == 0
    assert env.pyrunc("delete", "--force", cid).rc == 0


def test_start_failure_is_reported_like_python(env, tmp_path):
    """A failing startContainer hook is known only once the exec fifo is read: the front
    reports it itself, on stderr and in the JSON log, with Python's text."""
    fail = {"path": "/bin/sh", "args": ["sh", "-c", "echo nope >&2; exit 4"]}
    b = env.bundle(["true"], patch=lambda c: c.update(hooks={"startContainer": [fail]}))
    errs = []
    for call in (env.pyrunc, lambda *a: py(env, *a)):
        cid = env.new_id()
        log = tmp_path / f"{cid}.json"
        assert env.pyrunc("create", "--bundle", b, cid).rc == 0
        r = call("--log", str(log), "--log-format", "json", "start", cid)
        assert r.rc == 1, r
        entry = json.loads(log.read_text().splitlines()[-1])
        assert entry["level"] == "error" and r.err == f"pyrunc: {entry['msg']}\n"
        errs.append(r.err)
        assert env.pyrunc("delete", "--force", cid).rc == 0
    assert errs[0] == errs[1] and "error running startContainer hook #0: exit status 4" in errs[0]


def test_hooks_of_start_and_delete_run_in_python(env, tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    hook = lambda name: {"path": "/bin/sh", "args": ["sh", "-c", f"cat > {marks}/{name}"]}
    b = env.bundle(["sleep", "1000"], patch=lambda c: c.update(
        hooks={"poststart": [hook("poststart")], "poststop": [hook("poststop")]}))
    cid = env.new_id()
    assert env.pyrunc("create", "--bundle", b, cid).rc == 0
    assert env.pyrunc("start", cid).rc == 0
    assert json.loads((marks / "poststart").read_text())["status"] == "running"
    assert env.pyrunc("delete", "--force", cid).rc == 0
    assert json.loads((marks / "poststop").read_text())["status"] == "stopped"


def test_debug_and_unknown_options_go_to_python(env, tmp_path):
    b = env.bundle(["sleep", "1000"])
    cid = env.new_id()
    assert env.pyrunc("run", "-d", "--bundle", b, cid).rc == 0
    r = env.pyrunc("--debug", "state", cid)
    assert r.rc == 0 and json.loads(r.out)["status"] == "running"
    # an option only Python knows (runc's --criu): Python's answer, the same
    r = env.pyrunc("--criu", "/nonexistent/criu", "state", cid)
    assert r.rc == 0 and json.loads(r.out)["status"] == "running", r
    # --systemd-cgroup on a later call: the manager is the recorded one, the answer the same
    r = env.pyrunc("--systemd-cgroup", "state", cid)
    assert r.rc == 0 and json.loads(r.out)["status"] == "running", r
    assert env.pyrunc("delete", "--force", cid).rc == 0


@pytest.mark.parametrize("via", ["front", "python"])
def test_subreaper_hint_from_elsewhere_is_ignored(env, via):
    """The front tells Python it set the child-subreaper flag through PYRUNC_SUBREAPER=<its
    pid>; a value inherited from another process must not make Python skip setting it
    (run and exec wait for their child as its subreaper)."""
    environ = dict(os.environ, PYRUNC_SUBREAPER="1")
    b = env.bundle(["sh", "-c", "exit 3"])
    if via == "front":
        r = env.pyrunc("run", "--bundle", b, env.new_id(), env=environ)
    else:
        r = py(env, "run", "--bundle", b, env.new_id(), environ=environ)
    assert r.rc == 3, r


@pytest.mark.parametrize("via", ["front", "python"])
def test_delete_reports_a_state_directory_it_cannot_remove(env, via):
    """A stray file in the state directory: both paths say so (the cgroups are gone)."""
    b = env.bundle(["true"])
    cid = env.new_id()
    assert env.pyrunc("run", "--keep", "--bundle", b, cid).rc == 0
    stray = os.path.join(env.root, cid, "stray")
    open(stray, "w").close()
    r = env.pyrunc("delete", cid) if via == "front" else py(env, "delete", cid)
    assert r.rc == 1 and f"cannot remove the state directory {env.root}/{cid}" in r.err, r
    os.unlink(stray)
    os.rmdir(os.path.join(env.root, cid))


def test_log_escaping_of_non_ascii_and_lines_is_pythons(env, tmp_path):
    """The front writes the errors it meets after acting (a failed start) into --log itself:
    in JSON, text beyond ASCII is escaped as Python's encoder escapes it (é as \\u00e9, a
    character beyond the BMP as a surrogate pair, invalid UTF-8 as U+FFFD), and a message of
    several lines is joined on one line, as pyrunc/log.py does; the text format likewise."""
    script = ("printf 'caf\\303\\251 \\342\\230\\203 \\360\\235\\204\\236 \\377 "
              "\"q\" \\\\ end\\n2nd line\\n' >&2; exit 4")
    fail = {"path": "/bin/sh", "args": ["sh", "-c", script]}
    b = env.bundle(["true"], patch=lambda c: c.update(hooks={"startContainer": [fail]}))
    for fmt in ("json", "text"):
        lines = []
        for call in (env.pyrunc, lambda *a: py(env, *a)):
            cid = env.new_id()
            log = tmp_path / f"{cid}.log"
            assert env.pyrunc("create", "--bundle", b, cid).rc == 0
            r = call("--log", str(log), "--log-format", fmt, "start", cid)
            assert r.rc == 1, r
            line = log.read_bytes().splitlines()[-1]
            lines.append(line)
            assert env.pyrunc("delete", "--force", cid).rc == 0
        strip = (lambda l: json.loads(l)) if fmt == "json" else (lambda l: l.split(b" level=", 1)[1])
        front, python = (strip(l) for l in lines)
        if fmt == "json":
            assert front["msg"] == python["msg"] and front["level"] == python["level"] == "error"
            raw_front, raw_py = (l.split(b',"time"')[0] for l in lines)
            assert raw_front == raw_py, (raw_front, raw_py)  # byte for byte, escapes included
            assert "caf\u00e9 \u2603 \U0001d11e \ufffd" in front["msg"] and "end 2nd line" in front["msg"]
            assert b"\\u00e9" in lines[0] and b"\\ud834\\udd1e" in lines[0]
        else:
            assert front == python, (front, python)

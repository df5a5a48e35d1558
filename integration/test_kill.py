"""kill as runc 1.2 does it: a container without a pid namespace of its own loses only its
init to `kill ID KILL` under runc 1.1 (the rest live on, outside any pid namespace's end);
runc 1.2 and pyrunc send SIGKILL to every process of its cgroup.  Other signals still go to
the init alone.  (runc 1.1.5, installed here, has the old behaviour: no side-by-side run.)"""

import os
import time


def _no_pidns(c):
    c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "pid"]


def _pids(env, cid):
    r = env.pyrunc("ps", "--format", "json", cid)
    assert r.rc == 0, r
    import json
    return json.loads(r.out)


def _wait_gone(env, cid, timeout=5):
    deadline = time.monotonic() + timeout
    while _pids(env, cid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return _pids(env, cid)


def test_sigkill_reaches_every_process_without_a_pid_namespace(env):
    b = env.bundle(["sh", "-c", "sleep 1000 & sleep 1000 & wait"], patch=_no_pidns)
    cid = env.new_id()
    assert env.pyrunc("run", "-d", "--bundle", b, cid).rc == 0
    deadline = time.monotonic() + 5
    while len(_pids(env, cid)) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(_pids(env, cid)) == 3
    r = env.pyrunc("kill", cid, "KILL")
    assert r.rc == 0, r
    assert _wait_gone(env, cid) == []
    assert env.state(cid)["status"] == "stopped"
    assert env.pyrunc("delete", cid).rc == 0


def test_other_signals_go_to_the_init_alone(env):
    # the init (sh) ignores nothing but dies of TERM; its children without a pid namespace live on
    b = env.bundle(["sh", "-c", "sleep 1000 & sleep 1000"], patch=_no_pidns)
    cid = env.new_id()
    assert env.pyrunc("run", "-d", "--bundle", b, cid).rc == 0
    deadline = time.monotonic() + 5
    while len(_pids(env, cid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    init = env.state(cid)["pid"]
    others = [p for p in _pids(env, cid) if p != init]
    assert env.pyrunc("kill", cid, "TERM").rc == 0
    deadline = time.monotonic() + 5
    while os.path.exists(f"/proc/{init}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{init}")
    assert others and all(os.path.exists(f"/proc/{p}") for p in others)  # the background sleep lives on
    assert env.pyrunc("delete", "--force", cid).rc == 0

"""create / start / state / kill / delete / list / run, as engines drive them."""

import json
import os
import signal
import subprocess
import time

import pytest

from conftest import PYRUNC


def wait_status(env, cid, want, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        s = env.state(cid)["status"]
        if s == want:
            return
        time.sleep(0.02)
    raise AssertionError(f"{cid} did not become {want}: {env.state(cid)}")


def test_create_start_kill_delete(env):
    b = env.bundle(["sleep", "100"], patch=lambda c: c.setdefault("annotations", {}).update(a="b"))
    cid = env.new_id()
    r = env.pyrunc("create", "--bundle", b, cid)
    assert r.rc == 0 and r.err == "" and r.out == "", r
    s = env.state(cid)
    assert s["status"] == "created" and s["pid"] > 0 and s["id"] == cid
    assert s["bundle"] == b and s["annotations"] == {"a": "b"} and s["ociVersion"] == "1.3.0"
    # before start, the init is the C executor from the sealed copy, not Python
    exe = os.readlink(f"/proc/{s['pid']}/exe")
    assert exe.startswith("/memfd:pyrunc-init"), exe
    assert open(f"/proc/{s['pid']}/cmdline").read().split("\0")[0] == "pyrunc-init"
    r = env.pyrunc("start", cid)
    assert r.rc == 0 and r.err == "", r
    s = env.state(cid)
    assert s["status"] == "running"
    assert open(f"/proc/{s['pid']}/cmdline").read().split("\0")[:2] == ["sleep", "100"]
    r = env.pyrunc("start", cid)
    assert r.rc != 0 and "running" in r.err
    r = env.pyrunc("delete", cid)
    assert r.rc != 0 and "not stopped" in r.err
    r = env.pyrunc("kill", cid, "KILL")
    assert r.rc == 0, r
    wait_status(env, cid, "stopped")
    assert env.state(cid)["pid"] == 0
    r = env.pyrunc("kill", cid)
    assert r.rc != 0 and "container not running" in r.err
    r = env.pyrunc("start", cid)
    assert r.rc != 0 and "stopped" in r.err
    r = env.pyrunc("delete", cid)
    assert r.rc == 0 and r.err == "", r
    assert not os.path.exists(os.path.join(env.root, cid))
    r = env.pyrunc("state", cid)
    assert r.rc != 0 and "does not exist" in r.err


def test_kill_signal_forms(env):
    """Names with and without SIG, and numbers, as podman (numbers) and users send them."""
    for sig in ("TERM", "SIGTERM", "15", "sigterm"):
        cid = env.new_id()
        b = env.bundle(["sh", "-c", "trap 'exit 42' TERM; while true; do sleep 0.05; done"])
        assert env.pyrunc("run", "-d", "--bundle", b, cid).rc == 0
        time.sleep(0.2)
        r = env.pyrunc("kill", cid, sig)
        assert r.rc == 0, r
        wait_status(env, cid, "stopped")
        assert env.pyrunc("delete", cid).rc == 0
    r = env.pyrunc("kill", "x", "NOSUCHSIG")
    assert r.rc != 0 and "invalid signal" in r.err


def test_kill_all(env):
    b = env.bundle(["sh", "-c", "sleep 100 & sleep 100 & wait"])
    cid = env.new_id()
    assert env.pyrunc("run", "-d", "--bundle", b, cid).rc == 0
    time.sleep(0.2)
    r = env.pyrunc("kill", "--all", cid, "KILL")
    assert r.rc == 0, r
    wait_status(env, cid, "stopped")
    assert env.pyrunc("delete", cid).rc == 0


def test_delete_force_running_and_unknown(env):
    b = env.bundle(["sleep", "100"])
    cid = env.new_id()
    assert env.pyrunc("run", "--detach", "--bundle", b, cid).rc == 0
    pid = env.state(cid)["pid"]
    r = env.pyrunc("delete", "--force", cid)
    assert r.rc == 0 and r.err == "", r
    assert not os.path.exists(f"/proc/{pid}/stat") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"
    # engines (containerd's shim) delete twice: the second must succeed
    r = env.pyrunc("delete", "--force", cid)
    assert r.rc == 0 and r.err == "", r
    r = env.pyrunc("delete", "nosuch")
    assert r.rc != 0 and "does not exist" in r.err


def test_delete_created(env):
    """delete (without --force) of a created container kills and deletes it, as runc and crun
    do (containerd's shim deletes a created task so: `ctr task create` then `task delete`);
    a running one is refused.  The runtime-spec says delete of a not stopped container is an
    error: docs/support.md says why pyrunc follows runc here."""
    b = env.bundle(["sleep", "1000"])
    cid = env.new_id()
    assert env.pyrunc("create", "--bundle", b, cid).rc == 0
    r = env.pyrunc("delete", cid)
    assert r.rc == 0 and r.err == "", r
    assert not os.path.exists(os.path.join(env.root, cid))
    cid = env.new_id()
    assert env.pyrunc("run", "-d", "--bundle", b, cid).rc == 0
    r = env.pyrunc("delete", cid)
    assert r.rc != 0 and "not stopped: running" in r.err, r
    assert env.pyrunc("delete", "-f", cid).rc == 0


def test_run_exit_codes(env):
    assert env.sh("exit 3").rc == 3
    assert env.sh("exit 0").rc == 0
    # pid 1 ignores signals it has no handler for, even SIGKILL from inside (kernel rule)
    r = env.sh("kill -9 $$; kill -TERM $$; exit 5")
    assert r.rc == 5, r
    # killed from outside: 128 + signal, as runc
    b = env.bundle(["sh", "-c", "echo ready; sleep 100"])
    cid = env.new_id()
    p = subprocess.Popen([PYRUNC, "--root", env.root, "run", "--bundle", b, cid],
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    assert env.pyrunc("kill", cid, "9").rc == 0
    p.communicate(timeout=20)
    assert p.returncode == 128 + 9


def test_run_keep(env):
    b = env.bundle(["true"])
    cid = env.new_id()
    r = env.pyrunc("run", "--keep", "--bundle", b, cid)
    assert r.rc == 0, r
    assert env.state(cid)["status"] == "stopped"
    assert env.pyrunc("delete", cid).rc == 0


def test_run_forwards_signals(env):
    b = env.bundle(["sh", "-c", "trap 'echo got-term; exit 7' TERM; echo ready; while true; do sleep 0.05; done"])
    cid = env.new_id()
    p = subprocess.Popen([PYRUNC, "--root", env.root, "run", "--bundle", b, cid],
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    p.send_signal(signal.SIGTERM)
    out, _ = p.communicate(timeout=20)
    assert p.returncode == 7 and "got-term" in out


def test_stdio_is_inherited(env):
    r = env.run(["sh", "-c", "cat; echo err >&2"], input="from-stdin\n")
    assert r.rc == 0 and r.out == "from-stdin\n" and r.err == "err\n", r


def test_pid_file(env, tmp_path):
    b = env.bundle(["sleep", "100"])
    cid = env.new_id()
    pf = tmp_path / "init.pid"
    assert env.pyrunc("create", "--pid-file", str(pf), "--bundle", b, cid).rc == 0
    assert int(pf.read_text()) == env.state(cid)["pid"]
    assert env.pyrunc("delete", "--force", cid).rc == 0


def test_list(env):
    b = env.bundle(["sleep", "100"])
    ids = [env.new_id(), env.new_id()]
    for cid in ids:
        r = env.pyrunc("create", "--bundle", b, cid)
        assert r.rc == 0, r
    r = env.pyrunc("list", "--format", "json")
    assert r.rc == 0, r
    got = {s["id"]: s for s in json.loads(r.out)}
    assert set(got) == set(ids) and all(s["status"] == "created" for s in got.values())
    assert env.pyrunc("list", "-q").out.split() == sorted(ids)
    table = env.pyrunc("list").out.splitlines()
    assert table[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    assert len(table) == 3 and all("created" in l and "root" in l for l in table[1:])
    for cid in ids:
        r = env.pyrunc("delete", "--force", cid)
        assert r.rc == 0, r
    assert json.loads(env.pyrunc("list", "--format=json").out) == []


def test_global_flag_forms(env, tmp_path):
    b = env.bundle(["true"])
    cid = env.new_id()
    r = env.pyrunc(f"--root={env.root}", "--log", str(tmp_path / "log"), "--log-format=json",
                   "run", f"--bundle={b}", cid, root=False)
    assert r.rc == 0 and r.err == "", r


def test_version():
    out = subprocess.run([PYRUNC, "--version"], capture_output=True, text=True).stdout.splitlines()
    assert out[0].startswith("pyrunc version ") and out[1].startswith("commit: ") and out[2] == "spec: 1.3.0"
    assert out[3].startswith("libseccomp: ") and len(out) == 4  # as runc's last line


def test_concurrent_creates_same_id(env):
    """Two creates racing for one id: exactly one wins, the loser touches nothing."""
    b = env.bundle(["sleep", "100"])
    cid = env.new_id()
    ps = [subprocess.Popen([PYRUNC, "--root", env.root, "create", "--bundle", b, cid],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(2)]
    rcs = sorted(p.wait(timeout=30) for p in ps)
    assert rcs[0] == 0 and rcs[1] != 0
    assert env.state(cid)["status"] == "created"


def test_recycled_pid_is_not_the_container(env):
    """The state's pid now belongs to another process (here: this test): the container is
    stopped, and kill must not signal that process."""
    b = env.bundle(["true"])
    cid = env.new_id()
    assert env.pyrunc("create", "--bundle", b, cid).rc == 0
    assert env.pyrunc("delete", "-f", cid).rc == 0
    d = os.path.join(env.root, cid)
    os.makedirs(d)
    with open(os.path.join(d, "state.json"), "w") as f:
        json.dump({"id": cid, "pid": os.getpid(), "starttime": 1, "bundle": b, "rootfs": b,
                   "created": "", "cgroups": {}, "cgroups_created": []}, f)
    got = []
    old = signal.signal(signal.SIGTERM, lambda *a: got.append(a))
    try:
        assert env.state(cid)["status"] == "stopped" and env.state(cid)["pid"] == 0
        r = env.pyrunc("kill", cid, "TERM")
        assert r.rc != 0 and "not running" in r.err
        assert env.pyrunc("delete", cid).rc == 0
    finally:
        signal.signal(signal.SIGTERM, old)
    assert got == []


def test_session_keyring(env):
    """A new session keyring named after the container, unless --no-new-keyring."""
    def patch(c):
        c["linux"]["maskedPaths"] = []
    # (/proc/keys lists every keyring root may view; ours must be among them)
    b = env.bundle(["sh", "-c", "grep -o '_ses[^ ]*' /proc/keys"], patch=patch)
    cid = env.new_id()
    r = env.pyrunc("run", "--bundle", b, cid)
    assert r.rc == 0 and f"_ses.{cid}:" in r.out.split(), r
    cid = env.new_id()
    r = env.pyrunc("run", "--no-new-keyring", "--bundle", b, cid)
    assert f"_ses.{cid}" not in r.out, r


@pytest.mark.parametrize("shared", [False, True], ids=["own-cgroups", "one-shared-cgroup"])
def test_concurrent_creates(env, shared):
    """Twenty containers created at once, then started, stopped and deleted: no failure,
    also when they all name the same cgroupsPath (their device rules are written once,
    before any of them runs)."""
    one = env.bundle(["sh", "-c", "exit 0"])
    ids = [env.new_id() for _ in range(20)]
    bundles = [one if shared else env.bundle(["sh", "-c", "exit 0"]) for _ in ids]
    import tempfile
    errfiles = [tempfile.TemporaryFile("w+") for _ in ids]  # not pipes: the inits inherit them
    ps = [subprocess.Popen([PYRUNC, "--root", env.root, "create", "--bundle", b, cid],
                           stdout=subprocess.DEVNULL, stderr=f) for b, cid, f in zip(bundles, ids, errfiles)]
    rcs = [p.wait(timeout=60) for p in ps]
    errs = []
    for f in errfiles:
        f.seek(0)
        errs.append(f.read())
        f.close()
    assert rcs == [0] * len(ids), list(zip(rcs, errs))
    assert all(env.state(cid)["status"] == "created" for cid in ids)
    for cid in ids:
        assert env.pyrunc("start", cid).rc == 0
    for cid in ids:
        wait_status(env, cid, "stopped")
        assert env.pyrunc("delete", cid).rc == 0

"""OCI hooks: all six kinds run at their moment and in their namespaces, with the state on
stdin, exactly their args and env, and a timeout; failures fail the operation (runtime-spec
1.3), poststop failures are only logged.  Each hook records itself: what it observed is
what is checked."""

import json
import os
import time

import pytest

BUSYBOX = "/bin/busybox"
KINDS = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]


def recorder(kind, logdir, in_container=False):
    """A hook that appends "kind mntns pidns cwd" to <logdir>/order and saves its stdin.
    startContainer runs in the container: its paths are the container's (/hooks)."""
    d = "/hooks" if in_container else logdir
    script = (f'echo "{kind} $(readlink /proc/self/ns/mnt) $(readlink /proc/self/ns/pid) $PWD" >> {d}/order; '
              f'cat > {d}/{kind}.json')
    path = "/bin/sh" if in_container else BUSYBOX
    return {"path": path, "args": ["sh", "-c", script], "timeout": 10}


def hooks_patch(logdir, hooks):
    def patch(c):
        c["hooks"] = hooks
        c["annotations"] = {"org.test": "hooks"}
        c["mounts"].append({"destination": "/hooks", "type": "bind", "source": logdir,
                            "options": ["rbind", "rw"]})
    return patch


def wait_stopped(env, cid):
    for _ in range(200):
        if env.state(cid)["status"] == "stopped":
            return
        time.sleep(0.02)
    raise AssertionError("container did not stop")


def test_all_hooks_order_namespaces_and_state(env, tmp_path):
    logdir = tmp_path / "hooklog"
    logdir.mkdir()
    hooks = {k: [recorder(k, str(logdir), in_container=(k == "startContainer"))] for k in KINDS}
    b = env.bundle(["true"], patch=hooks_patch(str(logdir), hooks))
    cid = env.new_id()
    r = env.pyrunc("create", "--bundle", b, cid)
    assert r.rc == 0 and r.err == "", r
    pid = env.state(cid)["pid"]
    ct_mnt, ct_pid = os.readlink(f"/proc/{pid}/ns/mnt"), os.readlink(f"/proc/{pid}/ns/pid")
    lines = (logdir / "order").read_text().splitlines()
    assert [l.split()[0] for l in lines] == KINDS[:3], lines
    assert env.pyrunc("start", cid).rc == 0
    wait_stopped(env, cid)
    assert env.pyrunc("delete", cid).rc == 0
    lines = (logdir / "order").read_text().splitlines()
    assert [l.split()[0] for l in lines] == KINDS, lines
    host_mnt, host_pid = os.readlink("/proc/self/ns/mnt"), os.readlink("/proc/self/ns/pid")
    for line in lines:
        kind, mnt, pidns, cwd = line.split()
        if kind in ("createContainer", "startContainer"):
            assert (mnt, pidns) == (ct_mnt, ct_pid), line  # the container's namespaces
        else:
            assert (mnt, pidns) == (host_mnt, host_pid), line  # the runtime's
        if kind in ("prestart", "createRuntime"):
            assert cwd == b, line  # as runc: the runtime's create hooks work in the bundle
        if kind == "createContainer":
            assert cwd == env.rootfs, line  # as runc: in the container's rootfs
    for kind in KINDS:
        st = json.loads((logdir / f"{kind}.json").read_text())
        assert st["id"] == cid and st["bundle"] == b and st["ociVersion"] == "1.3.0", st
        assert st["annotations"] == {"org.test": "hooks"}, st
        # as runc: creating until the init waits for start; startContainer sees created
        want = {"startContainer": "created", "poststart": "running", "poststop": "stopped"}.get(kind, "creating")
        assert st["status"] == want, (kind, st)
        if kind != "poststop":
            assert st["pid"] == pid, (kind, st)  # the init, as the host sees it


def test_hook_args_and_env_are_exact(env, tmp_path):
    out = tmp_path / "env"
    script = f"tr '\\0' '\\n' < /proc/$$/environ > {out}; echo \"$0|$1\" >> {out}"
    hook = {"path": BUSYBOX, "args": ["sh", "-c", script, "zero", "one"], "env": ["A=1", "B=two words"]}
    b = env.bundle(["true"], patch=lambda c: c.update(hooks={"createRuntime": [hook]}))
    r = env.run(bundle=b)
    assert r.rc == 0, r
    assert out.read_text().splitlines() == ["A=1", "B=two words", "zero|one"]


def test_hook_without_args_gets_its_path(env, tmp_path):
    """args absent: argv is just the path (busybox then says which applet it is not)."""
    hook = {"path": BUSYBOX}
    b = env.bundle(["true"], patch=lambda c: c.update(hooks={"poststart": [hook]}))
    r = env.run(bundle=b)
    assert r.rc == 0, r


FAIL = {"path": BUSYBOX, "args": ["sh", "-c", "echo out-text; echo err-text >&2; exit 3"]}


@pytest.mark.parametrize("kind", ["prestart", "createRuntime", "createContainer"])
def test_failing_create_hook_fails_create(env, tmp_path, kind):
    """A failing create-time hook fails create: one line naming the hook with its status
    and output; nothing is left (the fixture checks); poststop still runs, as runc."""
    marker = tmp_path / "poststop-ran"
    hooks = {kind: [{"path": BUSYBOX, "args": ["true"]}, FAIL],
             "poststop": [{"path": BUSYBOX, "args": ["sh", "-c", f"cat > {marker}"]}]}
    b = env.bundle(["true"], patch=lambda c: c.update(hooks=hooks))
    log = tmp_path / "log.json"
    r = env.pyrunc("--log", str(log), "--log-format", "json", "create", "--bundle", b, env.new_id())
    assert r.rc != 0, r
    lines = r.err.splitlines()
    assert len(lines) == 1 and f"error running {kind} hook #1: exit status 3" in lines[0], r
    assert "stdout: out-text" in lines[0] and "stderr: err-text" in lines[0], r
    assert json.loads(log.read_text().splitlines()[-1])["level"] == "error"
    assert json.loads(marker.read_text())["status"] == "stopped"


def test_failing_start_container_hook_fails_start(env, tmp_path):
    fail = {"path": "/bin/sh", "args": ["sh", "-c", "echo nope >&2; exit 4"]}
    b = env.bundle(["sh", "-c", "echo should-not-run"],
                   patch=lambda c: c.update(hooks={"startContainer": [fail]}))
    cid = env.new_id()
    assert env.pyrunc("create", "--bundle", b, cid).rc == 0
    r = env.pyrunc("start", cid)
    assert r.rc != 0 and "error running startContainer hook #0: exit status 4" in r.err, r
    assert "nope" in r.err and "should-not-run" not in r.out
    wait_stopped(env, cid)
    assert env.pyrunc("delete", cid).rc == 0


def test_failing_poststart_hook_stops_the_container(env, tmp_path):
    b = env.bundle(["sleep", "1000"], patch=lambda c: c.update(hooks={"poststart": [FAIL]}))
    cid = env.new_id()
    assert env.pyrunc("create", "--bundle", b, cid).rc == 0
    r = env.pyrunc("start", cid)
    assert r.rc != 0 and "error running poststart hook #0" in r.err, r
    wait_stopped(env, cid)
    assert env.pyrunc("delete", cid).rc == 0


def test_failing_poststop_hook_is_logged_not_fatal(env, tmp_path):
    after = tmp_path / "second-ran"
    hooks = {"poststop": [FAIL, {"path": BUSYBOX, "args": ["touch", str(after)]}]}
    b = env.bundle(["true"], patch=lambda c: c.update(hooks=hooks))
    cid = env.new_id()
    assert env.pyrunc("create", "--bundle", b, cid).rc == 0
    log = tmp_path / "log.json"
    r = env.pyrunc("--log", str(log), "--log-format", "json", "delete", "-f", cid)
    assert r.rc == 0 and r.err == "", r
    entry = json.loads(log.read_text().splitlines()[-1])
    assert entry["level"] == "warning" and "error running poststop hook #0" in entry["msg"]
    assert after.exists()  # the remaining hooks ran
    assert env.pyrunc("state", cid).rc != 0


@pytest.mark.parametrize("kind", ["createRuntime", "createContainer"])
def test_hook_timeout(env, tmp_path, kind):
    slow = {"path": BUSYBOX, "args": ["sleep", "30"], "timeout": 1}
    b = env.bundle(["true"], patch=lambda c: c.update(hooks={kind: [slow]}))
    t = time.monotonic()
    r = env.pyrunc("create", "--bundle", b, env.new_id())
    assert r.rc != 0 and "timeout of 1.0s" in r.err, r
    assert time.monotonic() - t < 15


@pytest.mark.parametrize("kind", ["createContainer", "startContainer"])
def test_hook_output_of_several_lines_arrives_whole(env, tmp_path, kind):
    """The executor reports a failure as a frame with its length: a hook that prints several
    lines on stdout and stderr fails the call with every line of both (joined on one line),
    where a line protocol kept only the first."""
    hook = {"path": "/bin/sh", "args": ["sh", "-c", "echo one; echo two; echo three >&2; echo four >&2; exit 5"]}
    b = env.bundle(["true"], patch=lambda c: c.update(hooks={kind: [hook]}))
    cid = env.new_id()
    log = tmp_path / "log.json"
    r = env.pyrunc("--log", str(log), "--log-format", "json", "create", "--bundle", b, cid)
    if kind == "startContainer":
        assert r.rc == 0, r
        r = env.pyrunc("--log", str(log), "--log-format", "json", "start", cid)
    assert r.rc == 1, r
    assert "exit status 5, stdout: one two, stderr: three four" in r.err, r
    assert r.err.count("\n") == 1
    assert json.loads(log.read_text().splitlines()[-1])["msg"] == r.err[len("pyrunc: "):-1]


@pytest.mark.parametrize("kind", ["prestart", "createRuntime", "createContainer", "poststart", "poststop"])
def test_hooks_without_env_inherit_the_runtimes(env, tmp_path, kind):
    """A hook without `env` runs with pyrunc's environment, as runc's and crun's (the runtime-
    spec leaves it open); a startContainer hook gets the container process's (as runc)."""
    out = tmp_path / "env"
    hook = {"path": BUSYBOX, "args": ["sh", "-c", f"env > {out}"]}
    b = env.bundle(["true"], patch=lambda c: c.update(hooks={kind: [hook]}))
    r = env.run(bundle=b, env=dict(os.environ, PYRUNC_TEST_MARK="from-the-caller"))
    assert r.rc == 0, r
    assert "PYRUNC_TEST_MARK=from-the-caller" in out.read_text().splitlines()


def test_start_container_hook_without_env_gets_the_process_env(env, tmp_path):
    logdir = tmp_path / "log"
    logdir.mkdir()
    hook = {"path": "/bin/sh", "args": ["sh", "-c", "env > /hooks/env"]}
    b = env.bundle(["true"], patch=hooks_patch(str(logdir), {"startContainer": [hook]}))
    r = env.run(bundle=b, env=dict(os.environ, PYRUNC_TEST_MARK="from-the-caller"))
    assert r.rc == 0, r
    lines = (logdir / "env").read_text().splitlines()
    assert "TERM=xterm" in lines and not any(l.startswith("PYRUNC_TEST_MARK") for l in lines), lines

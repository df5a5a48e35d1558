"""Hostile and unlucky input (issue 16): each test attacks one flaw pyrunc had, and fails on it.

- ids that the kernel reads as "unchanged" ((uid_t)-1) must never run a container as root;
- a --no-pivot container must not get a fresh, unmasked procfs;
- a rootfs whose /proc or /sys is a symlink is refused, not followed;
- SIGKILL of create or start at any instant leaves something delete --force removes whole,
  and a state that tells the truth;
- create racing delete --force of one id gives no traceback;
- a timed-out hook's children are killed with it;
- bad documents give one line, no traceback, and leave nothing.
The env fixture (conftest.py) checks after each test that no state, cgroup or mount is left.
"""

import json
import os
import random
import subprocess
import time

import pytest

from conftest import PYRUNC


def one_line_error(r, *needles):
    assert r.rc != 0, r
    assert "Traceback" not in r.err, r
    lines = r.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("pyrunc: "), r
    for n in needles:
        assert n in lines[0], (n, r)


# --- ids ---------------------------------------------------------------------------------

@pytest.mark.parametrize("field,value", [
    ("uid", 4294967295), ("gid", 4294967295), ("uid", 2147483648), ("additionalGids", [4294967295])])
def test_ids_past_2_31_are_refused(env, field, value):
    """(uid_t)-1 to setresuid(2) means "unchanged": the container ran as root (uid=0 gid=0)."""
    r = env.run(["id"], patch=lambda c: c["process"]["user"].update({field: value}))
    one_line_error(r, "uids and gids must be in range 0-2147483647")
    assert "uid=0" not in r.out


def test_highest_valid_id_is_not_root(env):
    r = env.run(["id"], patch=lambda c: c["process"]["user"].update(uid=2147483647, gid=2147483647))
    assert r.rc == 0, r
    assert r.out.startswith("uid=2147483647 gid=2147483647"), r


def test_exec_user_past_2_31_is_refused(env):
    b = env.bundle(["sleep", "1000"])
    cid = env.new_id()
    assert env.pyrunc("run", "-d", "--bundle", b, cid).rc == 0
    for args in (["--user", "4294967295:4294967295"], ["--user", "0:4294967295"], ["-g", "4294967295"]):
        r = env.pyrunc("exec", *args, cid, "id")
        one_line_error(r, "exec failed", "must be in range 0-2147483647")
        assert r.rc == 255 and "uid=0" not in r.out
    proc = {"args": ["id"], "cwd": "/", "user": {"uid": 4294967295, "gid": 4294967295}}
    pf = os.path.join(env.root, "..", "proc.json")
    with open(pf, "w") as f:
        json.dump(proc, f)
    r = env.pyrunc("exec", "--process", pf, cid)
    one_line_error(r, "must be in range 0-2147483647")
    assert env.pyrunc("delete", "--force", cid).rc == 0


@pytest.mark.parametrize("where", ["device", "mapping"])
def test_other_ids_are_checked(env, where):
    def patch(c):
        if where == "device":
            c["linux"]["devices"] = [{"path": "/dev/x", "type": "c", "major": 1, "minor": 3,
                                      "uid": 4294967295, "gid": 0}]
        else:
            c["linux"]["namespaces"].append({"type": "user"})
            c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 4294967290, "size": 10}]
            c["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 0, "size": 1}]
    r = env.run(["true"], patch=patch)
    one_line_error(r, "4294967")


# --- masks that could be undone ------------------------------------------------------------

ESCAPE = ('unshare -mrpf sh -c "mkdir -p /tmp/p && mount -t proc proc /tmp/p && '
          'echo MOUNTED && wc -c < /tmp/p/keys"; echo rc=$?')


@pytest.mark.parametrize("pivot", [True, False], ids=["pivot", "no-pivot"])
def test_no_fresh_procfs_from_inside(env, pivot):
    """With --no-pivot the host's procfs stayed in the container's mount namespace under the
    chroot, so the kernel let the container mount a fresh procfs in a user namespace of its
    own, without the masks (/proc/keys, /proc/timer_list readable)."""
    def patch(c):
        caps = c["process"]["capabilities"]
        for k in caps:
            caps[k] += ["CAP_SETFCAP", "CAP_SETUID", "CAP_SETGID"]  # what unshare -r needs
        c["root"]["readonly"] = False
        c["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"})
    b = env.bundle(["sh", "-c", ESCAPE], patch=patch)
    args = ["run", "--bundle", b] + ([] if pivot else ["--no-pivot"]) + [env.new_id()]
    r = env.pyrunc(*args)
    assert r.rc == 0, r
    assert "MOUNTED" not in r.out and "rc=1" in r.out, r
    # the host keeps its own procfs
    assert os.path.exists("/proc/self/status")


@pytest.mark.parametrize("where", ["proc", "sys"])
def test_rootfs_proc_or_sys_symlink_is_refused(env, where):
    """CVE-2019-19921 class: /proc (or /sys) of the rootfs is a symlink; following it would
    mount procfs, and its masks, where the symlink leads."""
    b = env.bundle(["true"], own_rootfs=True)
    rootfs = os.path.join(b, "rootfs")
    os.rmdir(os.path.join(rootfs, where))
    os.mkdir(os.path.join(rootfs, "elsewhere"))
    os.symlink("/elsewhere", os.path.join(rootfs, where))
    r = env.run(bundle=b)
    fs = "proc" if where == "proc" else "sysfs"
    one_line_error(r, f'filesystem "{fs}" must be mounted on ordinary directory')
    assert os.listdir(os.path.join(rootfs, "elsewhere")) == []


# --- crash windows ------------------------------------------------------------------------

def _no_process_with(marker):
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                if marker.encode() in f.read():
                    return False
        except OSError:
            pass
    return True


def _popen(env, *args):
    """pyrunc in the background; its stderr in a file (a created container inherits it, so a
    pipe would not end while the container lives): p.err() reads it once p ended."""
    import tempfile
    f = tempfile.TemporaryFile("w+")
    p = subprocess.Popen([PYRUNC, "--root", env.root, *args], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=f)

    def err():
        f.seek(0)
        text = f.read()
        f.close()
        return text
    p.err = err
    return p


def test_create_killed_during_its_hooks_is_deletable(env, tmp_path):
    """create killed while the init waits for a prestart hook: create had recorded the init
    and its cgroups ("creating"); the init, whose plan pipe closed, ends by itself; delete
    --force removes the rest."""
    flag = tmp_path / "hook-running"
    hook = {"path": "/bin/sh", "args": ["sh", "-c", f"touch {flag}; sleep 30"]}
    b = env.bundle(["sleep", "987001"], patch=lambda c: c.update(hooks={"prestart": [hook]}))
    cid = env.new_id()
    p = _popen(env, "create", "--bundle", b, cid)
    for _ in range(500):
        if flag.exists():
            break
        time.sleep(0.01)
    assert flag.exists()
    p.kill()
    p.wait()
    with open(os.path.join(env.root, cid, "state.json")) as f:
        saved = json.load(f)
    assert saved["creating"] and saved["pid"] > 0 and saved["cgroup"]["paths"], saved
    assert env.state(cid)["status"] in ("creating", "stopped")
    assert env.pyrunc("delete", "--force", cid).rc == 0
    assert not os.path.exists(os.path.join(env.root, cid))
    assert _no_process_with("987001")


def test_create_killed_anywhere_is_deletable(env):
    """SIGKILL of create at random instants (some before its first record, some while the
    init is being built, some after READY): delete --force always removes everything."""
    b = env.bundle(["sleep", "987002"])
    rnd = random.Random(16)
    for i in range(40):
        cid = env.new_id()
        p = _popen(env, "create", "--bundle", b, cid)
        time.sleep(rnd.uniform(0, 0.06))
        p.kill()
        p.wait()
        if os.path.exists(os.path.join(env.root, cid, "state.json")):
            st = env.state(cid)["status"]
            assert st in ("creating", "created", "stopped"), (i, st)
        r = env.pyrunc("delete", "--force", cid)
        assert r.rc == 0 and "Traceback" not in r.err, (i, r)
        assert not os.path.exists(os.path.join(env.root, cid)), i
    for _ in range(100):
        if _no_process_with("987002"):
            break
        time.sleep(0.02)
    assert _no_process_with("987002")


def test_start_killed_after_letting_the_init_go(env, tmp_path):
    """start killed while the released init runs a startContainer hook: the program then
    runs, and state must say running (not created) and a second start must fail at once
    (it hung on the fifo)."""
    marks = tmp_path / "marks"
    marks.mkdir()
    hook = {"path": "/bin/sh", "args": ["sh", "-c", "echo > /marks/hook-running; sleep 1"]}

    def patch(c):
        c["hooks"] = {"startContainer": [hook]}
        c["mounts"].append({"destination": "/marks", "type": "bind", "source": str(marks),
                            "options": ["rbind", "rw"]})
    b = env.bundle(["sleep", "987003"], patch=patch)
    cid = env.new_id()
    assert env.pyrunc("create", "--bundle", b, cid).rc == 0
    p = _popen(env, "start", cid)
    for _ in range(500):
        if (marks / "hook-running").exists():
            break
        time.sleep(0.01)
    assert (marks / "hook-running").exists()
    assert env.state(cid)["status"] == "created"  # released, the hook runs: not exec'd yet
    p.kill()
    p.wait()
    time.sleep(1.5)  # the hook ends, the init execs the program
    assert env.state(cid)["status"] == "running"
    t = time.monotonic()
    r = env.pyrunc("start", cid, timeout=10)
    assert r.rc == 1 and "running" in r.err and time.monotonic() - t < 5, r
    assert env.pyrunc("delete", "--force", cid).rc == 0


def test_start_killed_anywhere_tells_the_truth(env):
    b = env.bundle(["sleep", "987004"])
    rnd = random.Random(1616)
    for i in range(15):
        cid = env.new_id()
        assert env.pyrunc("create", "--bundle", b, cid).rc == 0
        p = _popen(env, "start", cid)
        time.sleep(rnd.uniform(0, 0.004))
        p.kill()
        p.wait()
        status = env.state(cid)["status"]
        if status == "created":
            r = env.pyrunc("start", cid, timeout=10)  # must not hang
            assert r.rc == 0, (i, r)
        status = env.state(cid)["status"]
        assert status == "running", (i, status)
        assert env.pyrunc("delete", "--force", cid).rc == 0


def test_create_racing_delete_force(env):
    """50 creates of one id, each raced by a delete --force: no traceback, each call ends
    with success or one line, and the last delete leaves nothing."""
    b = env.bundle(["sleep", "987005"])
    cid = env.new_id()
    for i in range(50):
        c = _popen(env, "create", "--bundle", b, cid)
        time.sleep((i % 10) / 2000)
        d = _popen(env, "delete", "--force", cid)
        for p in (c, d):
            p.wait(timeout=60)
            err = p.err()
            assert "Traceback" not in err, (i, err)
            assert p.returncode == 0 or len(err.splitlines()) == 1, (i, p.returncode, err)
        assert env.pyrunc("delete", "--force", cid).rc == 0
        assert not os.path.exists(os.path.join(env.root, cid)), i
    assert _no_process_with("987005")


@pytest.mark.parametrize("kind", ["poststop", "createContainer"])
def test_hook_timeout_kills_what_the_hook_started(env, kind):
    marker = "987006" if kind == "poststop" else "987007"
    hook = {"path": "/bin/sh", "args": ["sh", "-c", f"sleep {marker} & sleep {marker}"], "timeout": 1}
    b = env.bundle(["true"], patch=lambda c: c.update(hooks={kind: [hook]}))
    r = env.run(bundle=b)
    if kind == "poststop":
        assert r.rc == 0 and "ran past specified timeout" in r.err, r
    else:
        one_line_error(r, "ran past specified timeout")
    for _ in range(100):
        if _no_process_with(marker):
            break
        time.sleep(0.02)
    assert _no_process_with(marker)


# --- bad documents ------------------------------------------------------------------------

def _raw_bundle(env, text):
    b = env.bundle(["true"])
    with open(os.path.join(b, "config.json"), "w" if isinstance(text, str) else "wb") as f:
        f.write(text)
    return b


@pytest.mark.parametrize("where", ["args", "env", "hostname", "destination", "sysctl", "cwd"])
def test_nul_bytes_are_refused(env, where):
    def patch(c):
        if where == "args":
            c["process"]["args"] = ["tr\0ue"]
        elif where == "env":
            c["process"]["env"].append("A=b\0c")
        elif where == "hostname":
            c["hostname"] = "a\0b"
        elif where == "destination":
            c["mounts"].append({"destination": "/x\0y", "type": "tmpfs", "source": "tmpfs"})
        elif where == "sysctl":
            c["linux"]["sysctl"] = {"net.ipv4.ip_forward\0": "1"}
        else:
            c["process"]["cwd"] = "/a\0b"
    r = env.run(["true"], patch=patch)
    one_line_error(r, "NUL")


def test_lone_surrogate_is_refused(env):
    b = env.bundle(["true"])
    path = os.path.join(b, "config.json")
    text = open(path).read().replace('"TERM=xterm"', '"TERM=\\ud800"')
    open(path, "w").write(text)
    one_line_error(env.run(bundle=b), "process.env[1]", "not valid text")


def test_too_many_env_entries(env):
    r = env.run(["true"], patch=lambda c: c["process"]["env"].extend(f"V{i}=x" for i in range(70000)))
    one_line_error(r, "too many")


@pytest.mark.parametrize("doc,needle", [
    ("[" * 100000 + "]" * 100000, "nested too deeply"),
    ('{"ociVersion": "1.0.0", "x": ' + "9" * 5000 + "}", "5000 digits is too large"),
    (b'{"ociVersion": "1.0.0", "hostname": "\xff"}', "not UTF-8 (byte 0xff"),
])
def test_bad_json(env, doc, needle):
    r = env.run(bundle=_raw_bundle(env, doc))
    one_line_error(r, needle)
    assert "codec" not in r.err and "set_int_max_str_digits" not in r.err


@pytest.mark.parametrize("target", ["/dev/zero", "fifo"])
def test_config_that_is_not_a_regular_file(env, tmp_path, target):
    b = env.bundle(["true"])
    cfg = os.path.join(b, "config.json")
    os.unlink(cfg)
    if target == "fifo":
        target = str(tmp_path / "fifo")
        os.mkfifo(target)
    os.symlink(target, cfg)
    r = env.run(bundle=b, timeout=20)
    one_line_error(r, "not a regular file")


def test_huge_config_is_refused_unread(env, tmp_path):
    b = env.bundle(["true"])
    with open(os.path.join(b, "config.json"), "r+") as f:
        f.seek(17 << 20)
        f.write(" ")
    one_line_error(env.run(bundle=b), "too large")


@pytest.mark.parametrize("key", ["cgroup.procs", "cgroup.threads", "cgroup.kill", "cgroup.subtree_control"])
def test_unified_interface_files_are_refused(env, key):
    r = env.run(["true"], patch=lambda c: c["linux"]["resources"].update(unified={key: "1"}))
    one_line_error(r, key, "not a resource")


@pytest.mark.parametrize("rl", ["RLIMIT_STACK", "RLIMIT_AS"])
def test_rlimits_the_program_cannot_start_under(env, rl):
    """They are applied right before execve, as late as runc applies them: the executor's own
    work is not affected, and the program starts (or dies) as under runc: exit 0 (id needs
    no stack growth) or 139 (SIGSEGV), never 'exited before it was ready'."""
    r = env.run(["id"], patch=lambda c: c["process"].update(rlimits=[{"type": rl, "soft": 1, "hard": 1}]))
    assert r.rc in (0, 139), r
    assert "exited before it was ready" not in r.err


def test_signal_of_an_init_that_dies_is_reported(env):
    """If the executor dies without a word (here: killed during the prestart hook; as pid 1 of
    its pid namespace it ignores any signal it has no handler for but SIGKILL), create says
    how it ended."""
    # the state on stdin carries the init's pid
    hook = {"path": "/bin/sh",
            "args": ["sh", "-c", "pid=$(sed 's/.*\"pid\":\\([0-9]*\\).*/\\1/'); kill -KILL $pid"]}
    r = env.run(["true"], patch=lambda c: c.update(hooks={"prestart": [hook]}))
    one_line_error(r, "killed by SIGKILL")



def test_sysctl_in_the_runtimes_own_network_namespace_is_refused(env):
    """A network namespace joined by path that is pyrunc's own (the host's) must not get the
    container's net.* sysctls (runc: "not allowed in host network namespace").  Run inside a
    private network namespace, so that even a failure of this test changes nothing of the
    host's."""
    def patch(c):
        c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "network"]
        c["linux"]["namespaces"].append({"type": "network", "path": "/proc/self/ns/net"})
        c["linux"]["sysctl"] = {"net.ipv4.tcp_keepalive_time": "7201"}
    b = env.bundle(["true"], patch=patch)
    r = env.pyrunc("run", "--bundle", b, env.new_id(), wrap='exec unshare --net "$@"')
    one_line_error(r, "not allowed in host network namespace")

"""containerd (through its runc shim v2) runs its containers on pyrunc, and the same tests
pass with runc.

Each runtime gets its own containerd (engines.py sandbox): root, state, sockets and the opt
plugin's directory in the test's directory, CRI disabled, in a private mount and network
namespace.  ctr selects the runtime with `--runc-binary`, which is the runc shim's
`BinaryName` option; the containers' cgroups are /<namespace>/<id>, and the namespace is
pyrunc-eng-<tag>.
"""

import json
import os
import subprocess
import time

import pytest

from engines import (
    EngineCli,
    Holder,
    have,
    host_net_state,
    image_tar,
    new_tag,
    oci_archive,
    remove_cgroups,
    runtime_path,
    shell_on_a_pty,
    stop_daemon,
)

pytestmark = pytest.mark.skipif(not have("containerd", "ctr", "containerd-shim-runc-v2", "nsenter"),
                                reason="containerd not installed (scripts/setup.sh --engines)")

IMAGE = "localhost/pyrunc-busybox:latest"

CONFIG = """\
version = 2
root = "{dir}/root"
state = "{dir}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "{dir}/containerd.sock"

[ttrpc]
  address = "{dir}/containerd-ttrpc.sock"

[plugins."io.containerd.internal.v1.opt"]
  path = "{dir}/opt"
"""


class Containerd(EngineCli):
    def __init__(self, runtime, tmp):
        self.runtime = runtime
        self.binary = runtime_path(runtime)
        self.dir = str(tmp)
        self.ns = f"pyrunc-eng-{new_tag()}"
        self.cgparent = f"/{self.ns}"
        self.sock = os.path.join(self.dir, "containerd.sock")
        conf = os.path.join(self.dir, "config.toml")
        with open(conf, "w") as f:
            f.write(CONFIG.format(dir=self.dir))
        self.holder = Holder()
        self.log = open(os.path.join(self.dir, "containerd.log"), "w")
        self.daemon = subprocess.Popen(self.holder.cmd(["containerd", "--config", conf]),
                                       stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(200):
            if os.path.exists(self.sock) and self("version").rc == 0:
                break
            assert self.daemon.poll() is None, open(self.log.name).read()
            time.sleep(0.05)
        else:
            raise AssertionError("containerd did not start: " + open(self.log.name).read())
        self.n = 0

    def argv(self, args):
        return self.holder.cmd(["ctr", "--address", self.sock, "--namespace", self.ns] + list(args))

    def new_id(self):
        self.n += 1
        return f"c{self.n}"

    def run(self, *opts_then_cmd, cid=None, detach=False):
        """ctr run with this runtime; `opts_then_cmd`: options, then "--", then the command."""
        i = opts_then_cmd.index("--") if "--" in opts_then_cmd else 0
        opts, cmd = opts_then_cmd[:i], opts_then_cmd[i + 1 if "--" in opts_then_cmd else 0:]
        cid = cid or self.new_id()
        flags = ["-d"] if detach else ["--rm"]
        return cid, self("run", *flags, "--runc-binary", self.binary, *opts, IMAGE, cid, *cmd)

    def tasks(self):
        """{id: status} from `ctr task ls`."""
        lines = self.ok("task", "ls").splitlines()[1:]
        return {l.split()[0]: l.split()[2] for l in lines if l.strip()}

    def remove(self, cid):
        self("task", "kill", "--signal", "SIGKILL", "--all", cid)
        for _ in range(100):
            if self.tasks().get(cid) in (None, "STOPPED"):
                break
            time.sleep(0.05)
        self("task", "delete", cid)
        self("container", "delete", cid)

    def close(self):
        for line in self("container", "ls", "-q").out.split():
            self.remove(line)
        stop_daemon(self.daemon, 20)
        self.log.close()
        self.holder.close()
        return remove_cgroups(self.cgparent)


@pytest.fixture(scope="module", params=["pyrunc", "runc"])
def ctr(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(f"containerd-{request.param}")
    before = host_net_state()
    c = Containerd(request.param, tmp)
    try:
        layer = image_tar(str(tmp / "layer.tar"), str(tmp))
        c.ok("images", "import", oci_archive(str(tmp / "image.tar"), layer, IMAGE))
        assert IMAGE in c.ok("images", "ls", "-q")
        yield c
    finally:
        left = c.close()
        after = host_net_state()
    assert not left, f"containerd left cgroups behind: {left}"
    assert after == before, f"the host's network changed: {before} -> {after}"


@pytest.fixture
def running(ctr):
    cid, r = ctr.run("--", "sleep", "1000", detach=True)
    assert r.rc == 0, r
    try:
        yield cid
    finally:
        ctr.remove(cid)


def read(path):
    with open(path) as f:
        return f.read().strip()


def cgroup_of(ctr, cid, controller):
    return f"/sys/fs/cgroup/{controller}{ctr.cgparent}/{cid}"


def test_run_rm(ctr):
    cid, r = ctr.run("--", "sh", "-c", "echo hello; id -u; echo $$")
    assert r.rc == 0 and r.out.split() == ["hello", "0", "1"], r
    assert cid not in ctr.ok("container", "ls", "-q").split()


def test_exit_code_passed_through(ctr):
    _, r = ctr.run("--", "sh", "-c", "exit 3")
    assert r.rc == 3, r


def test_runtime_error_reaches_the_user(ctr):
    cid, r = ctr.run("--", "/no/such/binary")
    assert r.rc != 0
    assert "/no/such/binary" in r.err and "no such file or directory" in r.err.lower(), r
    ctr("container", "delete", cid)


def test_the_chosen_runtime_runs_it(ctr, running):
    """The shim called the chosen binary: at the shim's --root, the state file is in that
    runtime's own format, and the runtime's `state` knows the task."""
    root = f"/run/containerd/runc/{ctr.ns}"
    cp = subprocess.run(ctr.holder.cmd([ctr.binary, "--root", root, "state", running]),
                        capture_output=True, text=True)
    assert cp.returncode == 0, cp
    assert json.loads(cp.stdout)["status"] == "running"
    cp = subprocess.run(ctr.holder.cmd(["cat", f"{root}/{running}/state.json"]),
                        capture_output=True, text=True)
    own_key = {"pyrunc": "runtime", "runc": "init_process_pid"}[ctr.runtime]
    assert own_key in json.loads(cp.stdout), cp.stdout[:300]
    if ctr.runtime == "pyrunc":
        assert json.loads(cp.stdout)["runtime"] == "pyrunc"


def test_tty(ctr):
    out, rc = shell_on_a_pty(ctr.argv(["run", "--rm", "-t", "--runc-binary", ctr.binary, IMAGE,
                                       ctr.new_id(), "sh"]), "tty; stty size; exit 4")
    assert b"/dev/pts/0" in out, out
    assert rc == 4


def test_task_exec(ctr, running):
    r = ctr("task", "exec", "--exec-id", "e1", running, "sh", "-c",
            "echo in $$; cat /proc/1/cmdline | tr '\\0' ' '; exit 5")
    assert r.rc == 5 and r.out.startswith("in ") and r.out.endswith("\nsleep 1000 "), r
    r = ctr("task", "exec", "--exec-id", "e2", "--user", "65534", "--cwd", "/tmp", running,
            "sh", "-c", "id -u; pwd")
    assert r.rc == 0 and r.out == "65534\n/tmp\n", r


def test_task_exec_tty(ctr, running):
    out, rc = shell_on_a_pty(ctr.argv(["task", "exec", "-t", "--exec-id", "t1", running, "sh"]),
                             "tty; exit 6")
    assert b"/dev/pts/" in out, out
    assert rc == 6


def test_task_ps(ctr, running):
    out = ctr.ok("task", "ps", running)
    pids = [l.split()[0] for l in out.splitlines()[1:]]
    assert len(pids) == 1, out
    with open(f"/proc/{pids[0]}/cmdline") as f:
        assert f.read() == "sleep\x001000\x00"


def test_task_pause_resume(ctr, running):
    ctr.ok("task", "pause", running)
    assert ctr.tasks()[running] == "PAUSED"
    assert read(cgroup_of(ctr, running, "freezer") + "/freezer.state") == "FROZEN"
    ctr.ok("task", "resume", running)
    assert ctr.tasks()[running] == "RUNNING"
    assert read(cgroup_of(ctr, running, "freezer") + "/freezer.state") == "THAWED"


def test_task_kill(ctr):
    cid, r = ctr.run("--", "sh", "-c", "trap 'echo usr1 > /tmp/got' USR1; "
                     "while :; do sleep 0.1; done", detach=True)
    assert r.rc == 0, r
    try:
        time.sleep(0.3)
        ctr.ok("task", "kill", "--signal", "SIGUSR1", cid)
        time.sleep(0.3)
        r = ctr("task", "exec", "--exec-id", "k1", cid, "cat", "/tmp/got")
        assert r.out == "usr1\n", r
        ctr.ok("task", "kill", "--signal", "SIGKILL", "--all", cid)
        for _ in range(100):
            if ctr.tasks()[cid] == "STOPPED":
                break
            time.sleep(0.05)
        assert ctr.tasks()[cid] == "STOPPED"
    finally:
        ctr.remove(cid)


def test_task_metrics(ctr):
    cid, r = ctr.run("--memory-limit", str(64 << 20), "--", "sleep", "1000", detach=True)
    assert r.rc == 0, r
    try:
        out = ctr.ok("task", "metrics", cid)
        metrics = dict(l.split(None, 1) for l in out.splitlines()[1:] if l.strip())
        assert int(metrics["memory.limit_in_bytes"]) == 64 << 20, out
        assert int(metrics["pids.current"]) == 1, out
        assert int(metrics["memory.usage_in_bytes"]) > 0, out
    finally:
        ctr.remove(cid)


def test_task_update(ctr):
    from containerd_api import update_task
    cid, r = ctr.run("--memory-limit", str(64 << 20), "--", "sleep", "1000", detach=True)
    assert r.rc == 0, r
    try:
        update_task(ctr.sock, ctr.ns, cid, {"memory": {"limit": 96 << 20},
                                             "cpu": {"quota": 25000, "period": 100000},
                                             "pids": {"limit": 40}})
        assert read(cgroup_of(ctr, cid, "memory") + "/memory.limit_in_bytes") == str(96 << 20)
        assert read(cgroup_of(ctr, cid, "cpu") + "/cpu.cfs_quota_us") == "25000"
        assert read(cgroup_of(ctr, cid, "pids") + "/pids.max") == "40"
    finally:
        ctr.remove(cid)


def test_delete_twice(ctr):
    """task delete calls `delete ID`, then the shim's cleanup `delete --force ID` on the gone
    container, which must succeed; a second task delete is containerd's own not-found."""
    cid, r = ctr.run("--", "true", detach=True)
    assert r.rc == 0, r
    for _ in range(100):
        if ctr.tasks().get(cid) == "STOPPED":
            break
        time.sleep(0.05)
    ctr.ok("task", "delete", cid)
    r = ctr("task", "delete", cid)
    assert r.rc != 0 and "not found" in r.err, r
    ctr.ok("container", "delete", cid)
    r = ctr("container", "delete", cid)
    assert r.rc != 0 and "not found" in r.err, r
    assert cid not in ctr.tasks()
    assert not os.path.isdir(cgroup_of(ctr, cid, "memory"))


def test_no_descriptor_reaches_the_container(ctr, running):
    """The shim's create gets its ttrpc socket as fd 3: it must not reach the container."""
    from test_podman import open_fds
    _, r = ctr.run("--", "ls", "-l", "/proc/self/fd")
    assert r.rc == 0 and open_fds(r.out) == ["0", "1", "2"], r
    r = ctr("task", "exec", "--exec-id", "fd1", running, "ls", "-l", "/proc/self/fd", "/proc/1/fd")
    assert r.rc == 0 and open_fds(r.out) == ["0", "1", "2"] * 2, r

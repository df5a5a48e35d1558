"""podman (through conmon) runs its containers on pyrunc, and the same tests pass with runc.

Each runtime gets its own sandbox (engines.py): podman's configuration, storage and state in
the test's directory, a private mount and network namespace, cgroups under /pyrunc-eng-<tag>.
The configuration is the one docs/engines.md shows: pyrunc registered under
[engine.runtimes] and listed in runtime_supports_json (so conmon passes --log-format=json),
default_ulimits within this machine's hard limits (podman as root asks for more).
"""

import json
import os
import subprocess
import time

import pytest

from conftest import Result
from engines import (
    EngineCli,
    Holder,
    have,
    host_net_state,
    image_tar,
    new_tag,
    remove_cgroups,
    runtime_path,
    shell_on_a_pty,
)

pytestmark = pytest.mark.skipif(not have("podman", "conmon", "nsenter"),
                                reason="podman/conmon not installed (scripts/setup.sh --engines)")

IMAGE = "localhost/pyrunc-busybox"

CONTAINERS_CONF = """\
[containers]
# podman as root asks for nofile/nproc above this machine's hard limits
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[network]
network_config_dir = "{dir}/networks"

[engine]
runtime = "{runtime}"
# conmon passes --log-format=json --log FILE only to the runtimes listed here
runtime_supports_json = ["crun", "runc", "pyrunc"]
cgroup_manager = "cgroupfs"
events_logger = "file"
# the sandbox's own /run (a tmpfs of its mount namespace): conmon's attach socket lives under
# tmp_dir, and a unix socket path must stay under 108 bytes, which pytest's paths can exceed
tmp_dir = "/run/libpod"
static_dir = "{dir}/storage/libpod"
volume_path = "{dir}/storage/volumes"
image_copy_tmp_dir = "/run/libpod"

[engine.runtimes]
pyrunc = ["{pyrunc}"]
runc = ["{runc}"]
"""

STORAGE_CONF = """\
[storage]
driver = "overlay"
graphroot = "{dir}/storage"
runroot = "/run/containers/storage"
"""


class Podman(EngineCli):
    def __init__(self, runtime, tmp):
        self.runtime = runtime
        self.dir = str(tmp)
        self.tag = new_tag()
        self.cgparent = f"/pyrunc-eng-{self.tag}"
        conf = os.path.join(self.dir, "containers.conf")
        with open(conf, "w") as f:
            f.write(CONTAINERS_CONF.format(dir=self.dir, runtime=runtime,
                                           pyrunc=runtime_path("pyrunc"),
                                           runc=runtime_path("runc")))
        storage = os.path.join(self.dir, "storage.conf")
        with open(storage, "w") as f:
            f.write(STORAGE_CONF.format(dir=self.dir))
        path = "/usr/sbin:/usr/bin:/sbin:/bin"
        from conftest import criu_path
        self.criu = criu_path()
        if self.criu:
            # podman finds criu in $PATH (and so do the runtimes it calls): the one that works
            # on this kernel (test_checkpoint.py)
            os.makedirs(os.path.join(self.dir, "criu-bin"))
            os.symlink(self.criu, os.path.join(self.dir, "criu-bin", "criu"))
            path = os.path.join(self.dir, "criu-bin") + ":" + path
        self.env = {"PATH": path, "HOME": self.dir,
                    "CONTAINERS_CONF": conf, "CONTAINERS_STORAGE_CONF": storage,
                    "CONTAINERS_REGISTRIES_CONF": os.path.join(self.dir, "registries.conf")}
        with open(self.env["CONTAINERS_REGISTRIES_CONF"], "w") as f:
            f.write("unqualified-search-registries = []\n")
        self.holder = Holder()

    def argv(self, args):
        return self.holder.cmd(["podman"] + list(args))

    def run(self, *args, **kw):
        """podman run with this sandbox's cgroup parent; the image comes before `args`'
        command (pass options first, then IMAGE)."""
        return self("run", "--pull", "never", "--cgroup-parent", self.cgparent, *args, **kw)

    def in_runtime(self, *args):
        """The runtime itself, called as podman calls it (default root) inside the sandbox."""
        cp = subprocess.run(self.holder.cmd([runtime_path(self.runtime)] + list(args)),
                            capture_output=True, text=True, timeout=60)
        return Result(cp.returncode, cp.stdout, cp.stderr)

    def close(self):
        self("rm", "--all", "--force", "--time", "0")
        self.holder.close()
        # podman puts conmon in <parent>/conmon and never removes it (with runc too)
        return [d for d in remove_cgroups(self.cgparent) if not d.endswith("/conmon")]


@pytest.fixture(scope="module", params=["pyrunc", "runc"])
def podman(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(f"podman-{request.param}")
    before = host_net_state()
    p = Podman(request.param, tmp)
    try:
        p.ok("import", "--quiet", image_tar(str(tmp / "image.tar"), str(tmp)), IMAGE)
        yield p
    finally:
        left = p.close()
        after = host_net_state()
    assert not left, f"podman left cgroups behind: {left}"
    assert after == before, f"the host's network changed: {before} -> {after}"


def detached(podman, *cmd, opts=()):
    cid = podman.run("-d", *opts, IMAGE, *(cmd or ("sleep", "1000"))).out.strip()
    assert len(cid) == 64, cid
    return cid


def test_run_rm_echo(podman):
    r = podman.run("--rm", IMAGE, "echo", "hello from", podman.runtime)
    assert r.rc == 0 and r.out == f"hello from {podman.runtime}\n", r
    assert podman("ps", "-aq").out == ""


def test_the_configured_runtime_runs_the_container(podman):
    cid = detached(podman)
    try:
        assert podman.ok("inspect", "-f", "{{.OCIRuntime}}", cid).strip() == podman.runtime
        st = podman.in_runtime("state", cid)
        assert st.rc == 0, st
        state = json.loads(st.out)
        assert state["status"] == "running" and state["id"] == cid
    finally:
        podman("rm", "-f", "-t", "0", cid)


def test_runtime_given_by_path(podman):
    r = podman("--runtime", runtime_path(podman.runtime), "run", "--pull", "never", "--rm",
               "--cgroup-parent", podman.cgparent, IMAGE, "sh", "-c", "echo $((6*7))")
    assert r.rc == 0 and r.out == "42\n", r


def test_detach_exec_stop_rm(podman):
    cid = detached(podman)
    r = podman("exec", cid, "sh", "-c", "echo in $(hostname); cat /proc/1/cmdline | tr '\\0' ' '")
    assert r.rc == 0 and r.out == f"in {cid[:12]}\nsleep 1000 ", r
    r = podman("exec", cid, "sh", "-c", "exit 5")
    assert r.rc == 5, r
    r = podman("exec", "--user", "nobody", "--workdir", "/tmp", "-e", "X=y", cid,
               "sh", "-c", "id -u; pwd; echo $X")
    assert r.out == "65534\n/tmp\ny\n", r
    t = time.monotonic()
    podman.ok("stop", "--time", "2", cid)
    assert time.monotonic() - t < 15
    assert podman.ok("inspect", "-f", "{{.State.Status}}", cid).strip() == "exited"
    podman.ok("rm", cid)
    assert podman.in_runtime("state", cid).rc != 0
    assert podman("ps", "-aq").out == ""


def test_stop_uses_the_stop_signal(podman):
    """sleep as pid 1 ignores SIGTERM: podman stop escalates to SIGKILL after --time."""
    cid = detached(podman, "sh", "-c", "trap 'exit 9' TERM; while :; do sleep 0.1; done")
    try:
        time.sleep(0.3)
        podman.ok("stop", "--time", "10", cid)
        assert podman.ok("inspect", "-f", "{{.State.ExitCode}}", cid).strip() == "9"
    finally:
        podman("rm", "-f", "-t", "0", cid)


def test_exit_code_passed_through(podman):
    r = podman.run("--rm", IMAGE, "sh", "-c", "echo out; echo err >&2; exit 3")
    assert r.rc == 3 and r.out == "out\n" and "err" in r.err, r


def test_missing_binary_error_reaches_the_user(podman):
    """podman maps a runtime's '... not found' to 127, and shows the runtime's message."""
    r = podman.run("--rm", IMAGE, "/no/such/binary")
    assert r.rc == 127, r
    assert "/no/such/binary" in r.err and "no such file or directory" in r.err.lower(), r
    assert podman("ps", "-aq").out == ""


def test_not_executable_is_126(podman):
    r = podman.run("--rm", IMAGE, "/etc/passwd")
    assert r.rc == 126, r
    assert "permission denied" in r.err.lower(), r


def test_run_it_under_a_pty(podman):
    out, rc = shell_on_a_pty(podman.argv(["run", "--pull", "never", "--rm", "-it", "--cgroup-parent",
                                          podman.cgparent, IMAGE, "sh"]),
                             "tty; stty size; echo $TERM; exit 4", env=podman.env)
    assert b"/dev/pts/0" in out and b"xterm" in out, out
    assert rc == 4


def test_exec_it(podman):
    cid = detached(podman)
    try:
        out, rc = shell_on_a_pty(podman.argv(["exec", "-it", cid, "sh"]), "tty; echo pid=$$; exit 6",
                                 env=podman.env)
        assert b"/dev/pts/" in out and b"pid=" in out, out
        assert rc == 6
    finally:
        podman("rm", "-f", "-t", "0", cid)


def container_cgroup(podman, cid, controller):
    """The container's cgroup directory on the host (v1 controller hierarchy)."""
    pid = podman.ok("inspect", "-f", "{{.State.Pid}}", cid).strip()
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            if controller in ctrls.split(","):
                assert path.startswith(podman.cgparent + "/"), path
                return f"/sys/fs/cgroup/{controller}{path}"
    raise AssertionError(f"no {controller} cgroup")


def read(path):
    with open(path) as f:
        return f.read().strip()


def test_resource_limits_in_the_cgroup(podman):
    cid = detached(podman, opts=("--memory", "64m", "--pids-limit", "50", "--cpus", "0.5"))
    try:
        mem = container_cgroup(podman, cid, "memory")
        assert read(f"{mem}/memory.limit_in_bytes") == str(64 << 20)
        assert read(container_cgroup(podman, cid, "pids") + "/pids.max") == "50"
        cpu = container_cgroup(podman, cid, "cpu")
        quota, period = int(read(f"{cpu}/cpu.cfs_quota_us")), int(read(f"{cpu}/cpu.cfs_period_us"))
        assert quota * 2 == period, (quota, period)
        # and seen from inside the container
        r = podman("exec", cid, "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes",
                   "/sys/fs/cgroup/pids/pids.max")
        assert r.out.split() == [str(64 << 20), "50"], r
    finally:
        podman("rm", "-f", "-t", "0", cid)


def test_update(podman):
    cid = detached(podman, opts=("--memory", "64m"))
    try:
        r = podman("update", "--memory", "96m", "--cpus", "0.25", cid)
        assert r.rc == 0, r
        assert read(container_cgroup(podman, cid, "memory") + "/memory.limit_in_bytes") == \
            str(96 << 20)
        cpu = container_cgroup(podman, cid, "cpu")
        assert int(read(f"{cpu}/cpu.cfs_quota_us")) * 4 == int(read(f"{cpu}/cpu.cfs_period_us"))
    finally:
        podman("rm", "-f", "-t", "0", cid)


def test_pause_unpause(podman):
    cid = detached(podman, "sh", "-c", "while :; do echo x >> /tmp/ticks; sleep 0.05; done")
    try:
        podman.ok("pause", cid)
        assert podman.ok("inspect", "-f", "{{.State.Status}}", cid).strip() == "paused"
        assert read(container_cgroup(podman, cid, "freezer") + "/freezer.state") == "FROZEN"
        assert json.loads(podman.in_runtime("state", cid).out)["status"] == "paused"
        podman.ok("unpause", cid)
        assert podman.ok("inspect", "-f", "{{.State.Status}}", cid).strip() == "running"
        r = podman("exec", cid, "sh", "-c", "n=$(wc -l < /tmp/ticks); sleep 0.5; "
                   "test $(wc -l < /tmp/ticks) -gt $n && echo ticking")
        assert r.out == "ticking\n", r
    finally:
        podman("rm", "-f", "-t", "0", cid)


def test_kill(podman):
    cid = detached(podman, "sh", "-c", "trap 'echo got USR1' USR1; while :; do sleep 0.1; done")
    try:
        time.sleep(0.3)
        podman.ok("kill", "--signal", "USR1", cid)
        time.sleep(0.5)
        assert "got USR1" in podman.ok("logs", cid)
        podman.ok("kill", cid)
        podman.ok("wait", cid)
        assert podman.ok("inspect", "-f", "{{.State.ExitCode}}", cid).strip() == "137"
    finally:
        podman("rm", "-f", "-t", "0", cid)


def test_network_none(podman):
    r = podman.run("--rm", "--network", "none", IMAGE, "sh", "-c", "ls /sys/class/net")
    assert r.rc == 0 and r.out.split() == ["lo"], r


def test_default_bridge_network(podman):
    # (read from the container's log, not from an attached run: once, under a loaded machine,
    # an attached `podman run --rm` of this short command returned 0 with no output at all)
    cid = detached(podman, "sh", "-c", "ls /sys/class/net; ip -4 -o addr show eth0")
    try:
        assert podman.ok("wait", cid).strip() == "0"
        out = podman.ok("logs", cid)
    finally:
        podman("rm", "-f", cid)
    assert out.split()[:2] == ["eth0", "lo"], out
    assert " inet 10.88." in out, out


def test_containers_see_their_own_namespaces(podman):
    r = podman.run("--rm", "--hostname", "box", IMAGE, "sh", "-c",
                   "hostname; echo $$; ls /proc | grep -c '^[0-9]'")
    assert r.rc == 0 and r.out.split()[:2] == ["box", "1"], r


def test_no_descriptor_reaches_the_container(podman):
    """Only stdio crosses into the container: none of conmon's or the runtime's fds (the
    listing shows the fd busybox's in-process ls opened on the directory itself)."""
    r = podman.run("--rm", IMAGE, "ls", "-l", "/proc/self/fd")
    assert r.rc == 0 and open_fds(r.out) == ["0", "1", "2"], r
    cid = detached(podman)
    try:
        r = podman("exec", cid, "ls", "-l", "/proc/self/fd", "/proc/1/fd")
        assert r.rc == 0 and open_fds(r.out) == ["0", "1", "2"] * 2, r
    finally:
        podman("rm", "-f", "-t", "0", cid)


def open_fds(ls_out):
    """fd numbers from `ls -l /proc/X/fd`, without ls's own descriptor of a /proc fd dir."""
    fds = []
    for line in ls_out.splitlines():
        if " -> " in line and not line.rstrip().endswith("/fd"):
            fds.append(line.split(" -> ")[0].split()[-1])
    return fds


def test_checkpoint_restore(podman, tmp_path):
    """podman container checkpoint/restore, and --export/--import (a migration's way), with
    the runtime's checkpoint and restore doing the work through CRIU."""
    if not podman.criu:
        pytest.skip("no working criu (test_checkpoint.py)")
    counter = ("sh", "-c", "i=0; while true; do i=$((i+1)); echo $i > /tmp/count; sleep 0.1; done")
    cid = detached(podman, *counter)

    def count():
        r = podman("exec", cid, "cat", "/tmp/count")
        assert r.rc == 0, r
        return int(r.out)

    for _ in range(100):
        if count() >= 5:
            break
        time.sleep(0.1)
    podman.ok("container", "checkpoint", cid)
    assert podman.ok("inspect", "-f", "{{.State.Status}} {{.State.Checkpointed}}", cid).split() == ["exited", "true"]
    podman.ok("container", "restore", cid)
    assert podman.ok("inspect", "-f", "{{.State.Status}}", cid).strip() == "running"
    stopped_at = count()
    assert stopped_at >= 5  # it went on from where it was: a restarted counter would be near 1
    time.sleep(0.5)
    assert count() > stopped_at
    # --export: the checkpoint as a tar file; --import: a new container from it
    archive = str(tmp_path / "cp.tar.gz")
    podman.ok("container", "checkpoint", "--export", archive, cid)
    podman.ok("rm", "-f", cid)
    out = podman.ok("container", "restore", "--import", archive)
    cid = out.strip().splitlines()[-1]
    assert podman.ok("inspect", "-f", "{{.State.Status}}", cid).strip() == "running"
    assert count() >= stopped_at  # it goes on: a restarted counter would be near 1
    podman.ok("rm", "-f", cid)

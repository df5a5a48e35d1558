"""Docker (dockerd 20.10, its own containerd and runc shim v2) runs its containers on pyrunc,
and the same tests pass with runc (issue 15).

Each runtime gets its own dockerd in an engine sandbox (engines.py): data-root, exec-root,
socket, pid file and containerd under the sandbox's private /var/lib and /run; the default
bridge network, its iptables chains and forwarding sysctl in the sandbox's network
namespace; the trust key (which dockerd 20.10 writes to /etc/docker/key.json) in the test's
directory; the containers' cgroups under /pyrunc-eng-<tag>.  The configuration is the one
docs/engines.md shows: pyrunc registered in daemon.json "runtimes" and made the
"default-runtime".  A second daemon per runtime runs with --userns-remap.  The fixture
checks that the host is as before: network, the keyring limits dockerd may raise,
/etc/docker.
"""

import fcntl
import json
import os
import signal
import struct
import subprocess
import termios
import time

import pytest

from conftest import PYRUNC, Result
from engines import (
    IMAGE_APPLETS,
    EngineCli,
    Holder,
    have,
    host_net_state,
    image_tar,
    new_tag,
    remove_cgroups,
    runtime_path,
    stop_daemon,
)

DOCKER = "/usr/bin/docker"  # Debian's client (another one may come first on PATH)
DOCKERD = "/usr/sbin/dockerd"

pytestmark = pytest.mark.skipif(not have(DOCKER, DOCKERD, "containerd", "nsenter"),
                                reason="docker.io not installed (scripts/setup.sh --engines)")

IMAGE = "pyrunc-busybox"
APPLETS = IMAGE_APPLETS + "unshare ping nc dd tr cut sysctl".split()
# the user --userns-remap maps the containers to (scripts/rootless-user.sh: 200000, 65536 ids)
REMAP_USER = "pyrunc-rl"
STATE_ROOT = "/run/docker/runtime-runc/moby"  # dockerd gives every runtime this --root


class Docker(EngineCli):
    def __init__(self, runtime, tmp, userns=False):
        self.runtime = runtime
        self.dir = str(tmp)
        self.tag = new_tag()
        self.cgparent = f"/pyrunc-eng-{self.tag}"
        conf = {
            "runtimes": {"pyrunc": {"path": PYRUNC}},
            "default-runtime": runtime,
            "cgroup-parent": self.cgparent,
            "exec-opts": ["native.cgroupdriver=cgroupfs"],
            "storage-driver": "overlay2",
            "userland-proxy": False,
            "deprecated-key-path": os.path.join(self.dir, "key.json"),
        }
        if userns:
            conf["userns-remap"] = REMAP_USER
        self.conf = os.path.join(self.dir, "daemon.json")
        with open(self.conf, "w") as f:
            json.dump(conf, f)
        self.env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": self.dir,
                    "DOCKER_CONFIG": os.path.join(self.dir, "client")}
        self.holder = Holder()
        self.log = open(os.path.join(self.dir, "dockerd.log"), "w")
        self.daemon = subprocess.Popen(
            self.holder.cmd([DOCKERD, "--config-file", self.conf, "--host", "unix:///run/docker.sock",
                             "--data-root", "/var/lib/docker", "--exec-root", "/run/docker",
                             "--pidfile", "/run/docker.pid"]),
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + 60
        while self("version").rc != 0:
            if self.daemon.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dockerd did not start: see {self.log.name}")
            time.sleep(0.2)

    def argv(self, args):
        return self.holder.cmd([DOCKER, "-H", "unix:///run/docker.sock"] + list(args))

    def run(self, *args, **kw):
        """docker run: options, then IMAGE and the command."""
        return self("run", *args, **kw)

    def detached(self, *cmd, opts=()):
        cid = self.ok("run", "-d", *opts, IMAGE, *(cmd or ("sleep", "1000"))).strip()
        assert len(cid) == 64, cid
        return cid

    def inspect(self, cid, fmt):
        return self.ok("inspect", "-f", fmt, cid).strip()

    def wait_for(self, cid, fmt, want, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            got = self.inspect(cid, fmt)
            if got == want or time.monotonic() > deadline:
                return got
            time.sleep(0.1)

    def in_runtime(self, *args):
        """The runtime itself, in the sandbox, on the state root dockerd gives it."""
        cp = subprocess.run(self.holder.cmd([runtime_path(self.runtime), "--root", STATE_ROOT] + list(args)),
                            capture_output=True, text=True, timeout=60)
        return Result(cp.returncode, cp.stdout, cp.stderr)

    def cgroup(self, cid, controller):
        return f"/sys/fs/cgroup/{controller}{self.cgparent}/{cid}"

    def close(self):
        ids = self("ps", "-aq").out.split()
        if ids:
            self("rm", "-f", *ids)
        stop_daemon(self.daemon, 30)
        self.log.close()
        self.holder.close()
        return remove_cgroups(self.cgparent)


def host_state():
    """What dockerd could change on the host: the network (engines.host_net_state), the
    keyring limits it raises for its containers, /etc/docker (its trust key)."""
    out = host_net_state()
    for k in ("root_maxkeys", "root_maxbytes", "maxkeys", "maxbytes"):
        with open(f"/proc/sys/kernel/keys/{k}") as f:
            out[k] = f.read().strip()
    out["etc_docker"] = sorted(os.listdir("/etc/docker")) if os.path.isdir("/etc/docker") else None
    return out


def _daemon(request, tmp_path_factory, userns):
    tmp = tmp_path_factory.mktemp(f"docker-{request.param}{'-userns' if userns else ''}")
    if userns:  # the remapped root traverses the path to the test's bind sources
        p = tmp
        while str(p).startswith("/tmp/") and p != p.parent:
            os.chmod(p, os.stat(p).st_mode | 0o111)
            p = p.parent
    before = host_state()
    d = Docker(request.param, tmp, userns=userns)
    try:
        d.ok("import", image_tar(str(tmp / "image.tar"), str(tmp), APPLETS), IMAGE)
        yield d
    finally:
        left = d.close()
        after = host_state()
    assert not left, f"docker left cgroups behind: {left}"
    assert after == before, f"the host changed: {before} -> {after}"


@pytest.fixture(scope="module", params=["pyrunc", "runc"])
def docker(request, tmp_path_factory):
    yield from _daemon(request, tmp_path_factory, userns=False)


@pytest.fixture(scope="module", params=["pyrunc", "runc"])
def docker_userns(request, tmp_path_factory):
    yield from _daemon(request, tmp_path_factory, userns=True)


def on_a_pty(argv, env, steps, rows=24, cols=80):
    """Run argv (docker run/exec -it) on a new pty as a user at a terminal.  steps: a list
    of (text to type, or a (rows, cols) window size to set, text to wait for[, tries]): with
    tries, the text is typed again until the answer comes, after a SIGWINCH for the client
    (nsenter exec'd it, so pid is the client's): a window size travels from the client
    through dockerd and the shim, and the 20.10 client can miss a SIGWINCH.  Returns
    everything read and the exit code."""
    import pty

    from test_terminal import read_until
    pid, fd = pty.fork()
    if pid == 0:
        os.environ.clear()
        os.environ.update(env)
        os.execvp(argv[0], argv)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    out = b""
    try:
        for action, wait, *tries in steps:
            tries = tries[0] if tries else 1
            for attempt in range(tries):
                if attempt and isinstance(action, str):
                    # docker 20.10's client can miss a SIGWINCH (with runc too): remind it
                    os.kill(pid, signal.SIGWINCH)
                if isinstance(action, tuple):
                    # the client (on the pty's other side) gets SIGWINCH and tells dockerd
                    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", *action, 0, 0))
                elif action:
                    os.write(fd, action.encode() + b"\r")
                got = read_until(fd, wait.encode(), timeout=30 if tries == 1 else 2)
                out += got
                if wait.encode() in got:
                    break
            assert wait.encode() in got, (out, wait)
        out += read_until(fd, b"\x00", timeout=20)
        _, status = os.waitpid(pid, 0)
        pid = None
    finally:
        os.close(fd)
        if pid:  # a failed step: the client goes (its container is the fixture's to remove)
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    return out.decode(errors="replace"), os.waitstatus_to_exitcode(status)


# --- running, exit codes ---------------------------------------------------------------------

def test_run_rm(docker):
    r = docker.run("--rm", IMAGE, "echo", "hello from", docker.runtime)
    assert r.rc == 0 and r.out == f"hello from {docker.runtime}\n", r
    assert docker("ps", "-aq").out == ""


def test_the_configured_runtime_runs_the_container(docker):
    cid = docker.detached()
    try:
        assert docker.inspect(cid, "{{.HostConfig.Runtime}}") == docker.runtime
        st = docker.in_runtime("state", cid)
        assert st.rc == 0 and json.loads(st.out)["status"] == "running", st
    finally:
        docker("rm", "-f", cid)


@pytest.mark.parametrize("cmd,code", [(["true"], 0), (["false"], 1), (["/etc/passwd"], 126),
                                      (["/no/such/binary"], 127), (["sh", "-c", "sh -c 'kill -9 $$'; exit $?"], 137)])
def test_exit_codes(docker, cmd, code):
    """dockerd maps the runtime's "permission denied" / "no such file or directory" to
    126 / 127; a process killed by a signal is 128+signal."""
    r = docker.run("--rm", IMAGE, *cmd)
    assert r.rc == code, r
    if code in (126, 127):
        assert cmd[0] in r.err, r
    assert docker("ps", "-aq").out == ""


def test_interactive_with_a_resize(docker):
    out, rc = on_a_pty(docker.argv(["run", "-it", "--rm", IMAGE, "sh"]), docker.env, [
        ("", "# "), ("stty size", "24 80", 5), ((40, 100), ""), ("stty size", "40 100", 5),
        ("tty", "/dev/pts/0"), ("exit 4", "")])
    assert rc == 4, out


# --- the life of a detached container ----------------------------------------------------------

def test_detach_exec_stop_rm(docker):
    cid = docker.detached()
    r = docker("exec", cid, "sh", "-c", "echo in $(hostname); cat /proc/1/cmdline | tr '\\0' ' '")
    assert r.rc == 0 and r.out == f"in {cid[:12]}\nsleep 1000 ", r
    assert docker("exec", cid, "sh", "-c", "exit 5").rc == 5
    r = docker("exec", "--user", "65534", "--workdir", "/tmp", "-e", "X=y", cid, "sh", "-c", "id -u; pwd; echo $X")
    assert r.out == "65534\n/tmp\ny\n", r
    out, rc = on_a_pty(docker.argv(["exec", "-it", cid, "sh"]), docker.env,
                       [("", "# "), ("tty; exit 6", "/dev/pts/")])
    assert rc == 6, out
    t = time.monotonic()
    docker.ok("stop", "-t", "1", cid)  # sleep as pid 1 ignores SIGTERM: SIGKILL after 1 s
    assert time.monotonic() - t < 15
    assert docker.inspect(cid, "{{.State.Status}} {{.State.ExitCode}}") == "exited 137"
    docker.ok("rm", cid)
    assert docker.in_runtime("state", cid).rc != 0
    assert docker("ps", "-aq").out == ""


def test_restart_and_a_restart_policy(docker):
    cid = docker.detached()
    try:
        pid = docker.inspect(cid, "{{.State.Pid}}")
        docker.ok("restart", "-t", "1", cid)
        assert docker.inspect(cid, "{{.State.Status}}") == "running"
        assert docker.inspect(cid, "{{.State.Pid}}") != pid
    finally:
        docker("rm", "-f", cid)
    cid = docker.detached("sh", "-c", "exit 3", opts=("--restart", "on-failure:2"))
    try:
        assert docker.wait_for(cid, "{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}",
                               "2 exited 3") == "2 exited 3"
    finally:
        docker("rm", "-f", cid)


def _read(path):
    with open(path) as f:
        return f.read().strip()


def test_resources_and_update(docker):
    cid = docker.detached(opts=("--memory", "64m", "--pids-limit", "50", "--cpus", "0.5"))
    try:
        assert _read(docker.cgroup(cid, "memory") + "/memory.limit_in_bytes") == str(64 << 20)
        assert _read(docker.cgroup(cid, "pids") + "/pids.max") == "50"
        assert _read(docker.cgroup(cid, "cpu") + "/cpu.cfs_quota_us") == "50000"
        r = docker("update", "--memory", "128m", "--memory-swap", "256m", "--pids-limit", "60",
                   "--cpus", "1.5", cid)
        assert r.rc == 0 and r.err == "", r
        assert _read(docker.cgroup(cid, "memory") + "/memory.limit_in_bytes") == str(128 << 20)
        assert _read(docker.cgroup(cid, "pids") + "/pids.max") == "60"
        assert _read(docker.cgroup(cid, "cpu") + "/cpu.cfs_quota_us") == "150000"
        assert docker.inspect(cid, "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}") == f"{128 << 20} 1500000000"
    finally:
        docker("rm", "-f", cid)


def test_stats_and_top(docker):
    cid = docker.detached()
    try:
        r = docker("stats", "--no-stream", "--format", "{{.PIDs}} {{.MemUsage}}", cid)
        assert r.rc == 0 and r.out.split()[0] == "1" and not r.out.split()[1].startswith("0B"), r
        r = docker("top", cid)  # the shim asks the runtime: ps --format json
        assert r.rc == 0 and "sleep 1000" in r.out, r
    finally:
        docker("rm", "-f", cid)


def test_pause_unpause(docker):
    cid = docker.detached()
    try:
        docker.ok("pause", cid)
        assert docker.inspect(cid, "{{.State.Status}}") == "paused"
        assert json.loads(docker.in_runtime("state", cid).out)["status"] == "paused"
        docker.ok("unpause", cid)
        assert docker.inspect(cid, "{{.State.Status}}") == "running"
        assert docker("exec", cid, "true").rc == 0
    finally:
        docker("rm", "-f", cid)


def test_kill(docker):
    cid = docker.detached("sh", "-c", "trap 'exit 42' USR1; while :; do sleep 0.1; done")
    try:
        time.sleep(0.3)
        docker.ok("kill", "-s", "USR1", cid)
        assert docker.wait_for(cid, "{{.State.Status}} {{.State.ExitCode}}", "exited 42") == "exited 42"
    finally:
        docker("rm", "-f", cid)
    cid = docker.detached()
    try:
        docker.ok("kill", cid)
        assert docker.wait_for(cid, "{{.State.Status}} {{.State.ExitCode}}", "exited 137") == "exited 137"
    finally:
        docker("rm", "-f", cid)


def test_oom_kill(docker):
    r = docker.run("--name", f"oom-{docker.tag}", "--memory", "16m", "--memory-swap", "16m", IMAGE,
                   "sh", "-c", "a=$(dd if=/dev/zero bs=1M count=64 2>/dev/null | tr '\\000' x); echo ${#a}")
    try:
        assert r.rc == 137, r
        # dockerd learns of the OOM from its own event, which may come after the exit's (seen
        # once, with runc, on a loaded machine): it is given a few seconds
        for _ in range(50):
            if docker.inspect(f"oom-{docker.tag}", "{{.State.OOMKilled}}") == "true":
                break
            time.sleep(0.1)
        assert docker.inspect(f"oom-{docker.tag}", "{{.State.OOMKilled}}") == "true"
    finally:
        docker("rm", "-f", f"oom-{docker.tag}")


def test_healthcheck(docker):
    """dockerd runs the check with an exec (the runtime's exec --process)."""
    cid = docker.detached(opts=("--health-cmd", "test -e /tmp/up || touch /tmp/up", "--health-interval", "1s",
                                "--health-retries", "3"))
    try:
        assert docker.wait_for(cid, "{{.State.Health.Status}}", "healthy") == "healthy"
    finally:
        docker("rm", "-f", cid)


# --- what the container sees -------------------------------------------------------------------

def test_read_only_with_tmpfs(docker):
    r = docker.run("--rm", "--read-only", "--tmpfs", "/run:size=1m", IMAGE, "sh", "-c",
                   "touch /x 2>/dev/null || echo root-ro; touch /run/y && echo run-rw; "
                   "grep ' /run ' /proc/mounts | cut -d' ' -f3")
    assert r.rc == 0 and r.out.split() == ["root-ro", "run-rw", "tmpfs"], r


@pytest.mark.parametrize("opts,eff", [((), "00000000a80425fb"),
                                      (("--cap-drop", "ALL", "--cap-add", "NET_BIND_SERVICE"), "0000000000000400"),
                                      (("--cap-add", "SYS_ADMIN", "--cap-drop", "NET_RAW"), "00000000a82405fb")])
def test_capabilities(docker, opts, eff):
    r = docker.run("--rm", *opts, IMAGE, "grep", "CapEff", "/proc/self/status")
    assert r.rc == 0 and r.out.split() == ["CapEff:", eff], r


@pytest.mark.parametrize("opts,mode,userns", [((), "2", "refused"),
                                              (("--security-opt", "seccomp=unconfined"), "0", "made")])
def test_seccomp(docker, opts, mode, userns):
    """Docker's default profile (arguments filtered, ENOSYS for the newer syscalls) and
    seccomp=unconfined."""
    r = docker.run("--rm", *opts, IMAGE, "sh", "-c",
                   "grep '^Seccomp:' /proc/self/status | cut -f2; unshare -U true 2>/dev/null && echo made || "
                   "echo refused; uname -s")
    assert r.rc == 0 and r.out.split() == [mode, userns, "Linux"], r


def test_init(docker):
    r = docker.run("--rm", "--init", IMAGE, "sh", "-c", "cat /proc/1/comm; echo $$")
    assert r.rc == 0 and r.out.split()[0] == "docker-init" and r.out.split()[1] != "1", r


def test_user(docker):
    r = docker.run("--rm", "--user", "1000:1000", IMAGE, "id")
    assert r.rc == 0 and r.out.startswith("uid=1000 gid=1000"), r
    r = docker.run("--rm", "--user", "nobody", IMAGE, "sh", "-c", "id -u; echo $HOME")
    assert r.rc == 0 and r.out.split() == ["65534", "/"], r  # the image's /etc/passwd


def test_ulimit_and_sysctl(docker):
    r = docker.run("--rm", "--ulimit", "nofile=1024:2048", "--sysctl", "kernel.shm_rmid_forced=1",
                   "--sysctl", "net.ipv4.ip_unprivileged_port_start=80", IMAGE, "sh", "-c",
                   "ulimit -n; ulimit -Hn; cat /proc/sys/kernel/shm_rmid_forced "
                   "/proc/sys/net/ipv4/ip_unprivileged_port_start")
    assert r.rc == 0 and r.out.split() == ["1024", "2048", "1", "80"], r


def test_device(docker):
    r = docker.run("--rm", "--device", "/dev/zero:/dev/myzero", IMAGE, "sh", "-c",
                   "head -c 3 /dev/myzero | wc -c; stat -c %t,%T /dev/myzero")
    assert r.rc == 0 and r.out.split() == ["3", "1,5"], r


def test_bind_volumes(docker, tmp_path):
    rw = tmp_path / "rw"
    ro = tmp_path / "ro"
    rw.mkdir()
    ro.mkdir()
    (ro / "f").write_text("from the host")
    r = docker.run("--rm", "-v", f"{rw}:/data", "-v", f"{ro}:/ro:ro", IMAGE, "sh", "-c",
                   "echo from-container > /data/out; cat /ro/f; echo; touch /ro/x 2>/dev/null || echo ro-refused")
    assert r.rc == 0 and r.out == "from the host\nro-refused\n", r
    assert (rw / "out").read_text() == "from-container\n"


def test_network_none(docker):
    r = docker.run("--rm", "--network", "none", IMAGE, "sh", "-c", "ls /sys/class/net")
    assert r.rc == 0 and r.out.split() == ["lo"], r


def test_bridge_network(docker):
    """The default bridge (in the sandbox's network namespace): dockerd's prestart hook
    (libnetwork-setkey) configures it; a second container joins the first's network."""
    cid = docker.detached("sh", "-c", "while :; do nc -l -p 8080 -e echo hello-over-the-bridge; done")
    try:
        ip = docker.inspect(cid, "{{.NetworkSettings.IPAddress}}")
        assert ip.startswith("172."), ip
        r = docker.run("--rm", IMAGE, "sh", "-c", f"ip -o -4 addr show eth0 | grep -c inet; "
                       f"ping -c1 -W5 {ip} >/dev/null && echo ping-ok; nc {ip} 8080")
        assert r.rc == 0 and r.out.split() == ["1", "ping-ok", "hello-over-the-bridge"], r
        r = docker.run("--rm", "--network", f"container:{cid}", IMAGE, "sh", "-c",
                       "ip -o -4 addr show eth0 | awk '{print $4}' | cut -d/ -f1")
        assert r.rc == 0 and r.out.strip() == ip, r
    finally:
        docker("rm", "-f", cid)


# --- dockerd --userns-remap ------------------------------------------------------------------

def test_userns_remap(docker_userns):
    d = docker_userns
    r = d.run("--rm", IMAGE, "sh", "-c", "id -u; cat /proc/self/uid_map")
    assert r.rc == 0 and r.out.split() == ["0", "0", "200000", "65536"], r
    cid = d.detached()
    try:
        r = d("exec", cid, "sh", "-c", "id -u; touch /made && stat -c %u /made")
        assert r.rc == 0 and r.out.split() == ["0", "0"], r
        r = d.run("--rm", "-t", IMAGE, "tty")
        assert r.rc == 0 and r.out.strip() == "/dev/pts/0", r
        out, rc = on_a_pty(d.argv(["exec", "-it", cid, "sh"]), d.env, [("", "# "), ("tty; exit 2", "/dev/pts/")])
        assert rc == 2, out
        ip = d.inspect(cid, "{{.NetworkSettings.IPAddress}}")
        r = d.run("--rm", "--network", f"container:{cid}", IMAGE, "sh", "-c",
                  "ip -o -4 addr show eth0 | awk '{print $4}' | cut -d/ -f1")
        assert r.rc == 0 and r.out.strip() == ip, r
    finally:
        d("rm", "-f", cid)


def test_userns_remap_bind_of_a_root_only_directory(docker_userns, tmp_path):
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    (private / "data").mkdir()
    (private / "data" / "f").write_text("secret-ok")
    r = docker_userns.run("--rm", "-v", f"{private / 'data'}:/data:ro", IMAGE, "cat", "/data/f")
    assert r.rc == 0 and r.out == "secret-ok", r

"""The systemd cgroup driver where systemd really runs (issue 18): run inside the systemd VM by
test_systemd_vm.py (../shared/tools/sdvm: systemd 252 as pid 1, pure cgroup v2, dbus);
skipped elsewhere.

Every scenario runs with pyrunc and with runc (`--systemd-cgroup`), so that a difference is
pyrunc's: the cgroupsPath forms engines send, the unit's properties and cgroup files, update,
pause/resume, ps, events, exec, kill --all, delete (a failed unit reset), a failed create
that leaves nothing; podman with its defaults (cgroup_manager systemd); containerd's runc
shim with SystemdCgroup; rootless podman under the user's own systemd, its memory limit
enforced.  The VM is thrown away afterwards; the tests still clean up after themselves.
"""

import json
import os
import shutil
import subprocess
import time
import uuid

import pytest

from conftest import PYRUNC, Result, base_config, make_rootfs

pytestmark = pytest.mark.skipif(not os.path.isdir("/run/systemd/system"),
                                reason="needs systemd as pid 1 (test_systemd_vm.py runs this in a VM)")

RUNC = shutil.which("runc") or "/usr/sbin/runc"
RUNTIMES = ["pyrunc", "runc"]


def binary(runtime):
    return PYRUNC if runtime == "pyrunc" else RUNC


def one_at_a_time(name):
    """An exclusive lock held while a test runs, for what the workers share (the runc shim's
    root, the user's systemd instance).  Not xdist_group: with pytest 9 and xdist 3.8 here,
    --dist loadgroup still gave two tests of one group to two workers."""
    import fcntl
    f = open(f"/run/pyrunc-test-{name}.lock", "w")
    fcntl.flock(f, fcntl.LOCK_EX)
    return f  # closing it (or the worker's exit) releases the lock


@pytest.fixture
def containerd_turn():
    with one_at_a_time("containerd"):
        yield


def sh(*argv, timeout=120, **kw):
    cp = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, **kw)
    return Result(cp.returncode, cp.stdout, cp.stderr)


def show(unit, *props, user=None):
    """systemctl show: {property: value}; LoadState not-found when systemd does not know it."""
    args = ["systemctl"] + (["--user", "-M", f"{user}@"] if user else []) + ["show", unit]
    r = sh(*args, *[f"-p{p}" for p in props or ("LoadState",)])
    return dict(line.split("=", 1) for line in r.out.splitlines() if "=" in line)


def gone(unit):
    return show(unit, "LoadState").get("LoadState") == "not-found"


def read(path):
    with open(path) as f:
        return f.read().strip()


class Runtime:
    """One runtime with --systemd-cgroup, its own --root, its bundles and containers."""

    def __init__(self, name, tmp):
        self.name, self.tmp = name, tmp
        self.root = str(tmp / "state")
        self.tag = uuid.uuid4().hex[:8]
        self.rootfs = str(tmp / "rootfs")
        make_rootfs(self.rootfs)
        self.ids, self.units, self._n = [], [], 0

    def __call__(self, *args, timeout=120):
        with open(self.tmp / "out", "w+") as out, open(self.tmp / "err", "w+") as err:
            cp = subprocess.run([binary(self.name), "--root", self.root, "--systemd-cgroup", *args],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=err, timeout=timeout)
            out.seek(0)
            err.seek(0)
            return Result(cp.returncode, out.read(), err.read())

    def new_id(self):
        self._n += 1
        cid = f"{self.name}-{self.tag}-{self._n}"
        self.ids.append(cid)
        return cid

    def bundle(self, args, cgroups_path, resources=None, annotations=None):
        self._n += 1
        b = self.tmp / f"bundle{self._n}"
        b.mkdir()
        cfg = base_config()
        cfg["root"]["path"] = self.rootfs
        cfg["process"]["args"] = args
        cfg["linux"]["cgroupsPath"] = cgroups_path
        cfg["linux"]["resources"].update(resources or {})
        if annotations:
            cfg["annotations"] = annotations
        (b / "config.json").write_text(json.dumps(cfg))
        return str(b)

    def cleanup(self):
        for cid in self.ids:
            self("delete", "--force", cid)
        left = [u for u in self.units if not gone(u)]
        for u in left:
            sh("systemctl", "stop", u)
            sh("systemctl", "reset-failed", u)
        return left


@pytest.fixture(params=RUNTIMES)
def rt(request, tmp_path):
    r = Runtime(request.param, tmp_path)
    try:
        yield r
    finally:
        left = r.cleanup()
    assert not left, f"units left behind: {left}"


RESOURCES = {"memory": {"limit": 64 << 20}, "pids": {"limit": 40},
             "cpu": {"quota": 50000, "period": 100000}}


def _form(rt, form, cid):
    """(cgroupsPath, unit, cgroup path) of a form engines send."""
    tag = rt.tag
    return {
        "docker": (f"system.slice:docker:{cid}", f"docker-{cid}.scope", f"/system.slice/docker-{cid}.scope"),
        "libpod": (f"machine.slice:libpod:{cid}", f"libpod-{cid}.scope", f"/machine.slice/libpod-{cid}.scope"),
        "kubepods": (f"kubepods-besteffort-pod{tag}.slice:cri-containerd:{cid}", f"cri-containerd-{cid}.scope",
                     f"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{tag}.slice/"
                     f"cri-containerd-{cid}.scope"),
        "empty": ("", f"runc-{cid}.scope", f"/system.slice/runc-{cid}.scope"),
        "no-slice": (f":libpod:{cid}", f"libpod-{cid}.scope", f"/system.slice/libpod-{cid}.scope"),
    }[form]


V2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")


@pytest.mark.skipif(not V2, reason="pure cgroup v2 (test_lifecycle_hybrid on a hybrid host)")
def test_lifecycle(rt):
    """libpod's form through every command: the unit and the files carry the resources."""
    cid = rt.new_id()
    path, unit, cg = _form(rt, "libpod", cid)
    rt.units.append(unit)
    assert rt("run", "-d", "--bundle", rt.bundle(["sleep", "1000"], path, RESOURCES), cid).rc == 0
    p = show(unit, "ActiveState", "ControlGroup", "Slice", "Delegate", "MemoryMax", "TasksMax",
             "CPUQuotaPerSecUSec", "DefaultDependencies")
    assert p == {"ActiveState": "active", "ControlGroup": cg, "Slice": "machine.slice", "Delegate": "yes",
                 "MemoryMax": str(64 << 20), "TasksMax": "40", "CPUQuotaPerSecUSec": "500ms",
                 "DefaultDependencies": "no"}, p
    d = "/sys/fs/cgroup" + cg
    assert (read(d + "/memory.max"), read(d + "/pids.max"), read(d + "/cpu.max")) == \
        (str(64 << 20), "40", "50000 100000")
    pid = json.loads(rt("state", cid).out)["pid"]
    assert read(d + "/cgroup.procs").split() == [str(pid)]

    r = rt("update", "--memory", "128m", "--pids-limit", "50", cid)
    assert r.rc == 0, r
    assert show(unit, "MemoryMax", "TasksMax") == {"MemoryMax": str(128 << 20), "TasksMax": "50"}
    assert (read(d + "/memory.max"), read(d + "/pids.max")) == (str(128 << 20), "50")

    assert rt("pause", cid).rc == 0
    assert json.loads(rt("state", cid).out)["status"] == "paused" and read(d + "/cgroup.freeze") == "1"
    assert rt("resume", cid).rc == 0
    assert json.loads(rt("state", cid).out)["status"] == "running"
    assert json.loads(rt("ps", "--format", "json", cid).out) == [pid]
    ev = json.loads(rt("events", "--stats", cid).out)
    assert ev["data"]["memory"]["usage"]["limit"] == 128 << 20 and ev["data"]["pids"]["current"] == 1, ev
    r = rt("exec", cid, "cat", "/proc/self/cgroup")
    assert r.rc == 0 and r.out == f"0::{cg}\n", r

    assert rt("kill", "--all", cid, "KILL").rc == 0
    deadline = time.monotonic() + 20
    while json.loads(rt("state", cid).out)["status"] != "stopped" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert rt("delete", cid).rc == 0
    assert gone(unit) and not os.path.exists(d)
    assert rt("state", cid).rc != 0


@pytest.mark.skipif(V2, reason="a hybrid systemd host (test_systemd_vm.py boots one)")
def test_lifecycle_hybrid(rt):
    """On a v1/hybrid systemd host: systemd makes the unit's directory in the hierarchies it
    manages, pyrunc (as runc) those of the other controllers at the same path; the v1 files
    carry the resources.  (No memory here: the VM's kernel has no v1 memory controller.)"""
    cid = rt.new_id()
    path, unit, cg = _form(rt, "docker", cid)
    rt.units.append(unit)
    res = {"pids": {"limit": 40}, "cpu": {"quota": 50000, "period": 100000}}
    assert rt("run", "-d", "--bundle", rt.bundle(["sleep", "1000"], path, res), cid).rc == 0
    assert show(unit, "ActiveState", "ControlGroup", "TasksMax", "CPUQuotaPerSecUSec") == {
        "ActiveState": "active", "ControlGroup": cg, "TasksMax": "40", "CPUQuotaPerSecUSec": "500ms"}
    pid = json.loads(rt("state", cid).out)["pid"]
    assert read(f"/sys/fs/cgroup/pids{cg}/pids.max") == "40"
    assert read(f"/sys/fs/cgroup/cpu,cpuacct{cg}/cpu.cfs_quota_us") == "50000"
    for h in ("freezer", "pids", "devices", "systemd", "unified"):
        assert str(pid) in read(f"/sys/fs/cgroup/{h}{cg}/cgroup.procs").split(), h
    assert rt("update", "--pids-limit", "50", cid).rc == 0
    assert show(unit, "TasksMax") == {"TasksMax": "50"} and read(f"/sys/fs/cgroup/pids{cg}/pids.max") == "50"
    assert rt("pause", cid).rc == 0
    assert read(f"/sys/fs/cgroup/freezer{cg}/freezer.state") == "FROZEN"
    assert rt("resume", cid).rc == 0
    r = rt("exec", cid, "grep", "freezer", "/proc/self/cgroup")
    assert r.rc == 0 and r.out.strip().endswith(f"freezer:{cg}"), r
    assert rt("delete", "--force", cid).rc == 0
    assert gone(unit)
    left = [h for h in os.listdir("/sys/fs/cgroup") if os.path.exists(f"/sys/fs/cgroup/{h}{cg}")]
    assert not left, left


@pytest.mark.parametrize("form", ["docker", "kubepods", "empty", "no-slice"])
def test_cgroups_path_forms(rt, form):
    """Docker's, kubelet's (nested slices), and runc's defaults for empty parts."""
    cid = rt.new_id()
    path, unit, cg = _form(rt, form, cid)
    rt.units.append(unit)
    assert rt("run", "-d", "--bundle", rt.bundle(["sleep", "1000"], path), cid).rc == 0
    p = show(unit, "ActiveState", "ControlGroup")
    assert p == {"ActiveState": "active", "ControlGroup": cg}, p
    assert rt("delete", "--force", cid).rc == 0
    assert gone(unit) and not os.path.exists("/sys/fs/cgroup" + cg) and \
        not os.path.exists("/sys/fs/cgroup/systemd" + cg)


def test_annotations_become_properties(rt):
    cid = rt.new_id()
    path, unit, _ = _form(rt, "docker", cid)
    rt.units.append(unit)
    ann = {"org.systemd.property.TimeoutStopSec": "uint64 7",
           "org.systemd.property.CollectMode": "'inactive-or-failed'"}
    assert rt("run", "-d", "--bundle", rt.bundle(["sleep", "1000"], path, annotations=ann), cid).rc == 0
    assert show(unit, "TimeoutStopUSec", "CollectMode") == {"TimeoutStopUSec": "7s",
                                                            "CollectMode": "inactive-or-failed"}
    assert rt("delete", "--force", cid).rc == 0


def test_failed_create_leaves_nothing(rt):
    cid = rt.new_id()
    path, unit, cg = _form(rt, "docker", cid)
    rt.units.append(unit)
    res = {"pids": {"limit": 40}, "cpu": {"quota": 50000, "period": 100000}}
    r = rt("run", "--bundle", rt.bundle(["/no/such/program"], path, res), cid)
    assert r.rc != 0 and "no such file or directory" in r.err, r
    assert gone(unit) and not os.path.exists("/sys/fs/cgroup" + cg)
    assert not os.path.exists(os.path.join(rt.root, cid))


def test_a_failed_unit_is_reset_by_delete(rt):
    """A scope that failed (stopped by someone else, its processes outliving the stop
    timeout, which an annotation set): delete makes systemd forget it."""
    cid = rt.new_id()
    path, unit, cg = _form(rt, "docker", cid)
    rt.units.append(unit)
    b = rt.bundle(["sh", "-c", "trap '' TERM; while :; do sleep 1; done"], path,
                  annotations={"org.systemd.property.TimeoutStopSec": "uint64 1"})
    assert rt("run", "-d", "--bundle", b, cid).rc == 0
    sh("systemctl", "stop", unit, timeout=60)
    assert show(unit, "ActiveState", "Result") == {"ActiveState": "failed", "Result": "timeout"}
    assert json.loads(rt("state", cid).out)["status"] == "stopped"
    assert rt("delete", cid).rc == 0
    if rt.name == "runc":
        # runc 1.1.5 (Debian 12's) leaves the failed unit; later runc resets it, as pyrunc
        assert show(unit, "ActiveState") == {"ActiveState": "failed"}
        sh("systemctl", "reset-failed", unit)
    assert gone(unit) and not os.path.exists("/sys/fs/cgroup" + cg)


# --- engines with their systemd defaults ---------------------------------------------------

def _image_tar(tmp):
    from engines import image_tar
    return image_tar(str(tmp / "image.tar"), str(tmp))


CONTAINERS_CONF = """\
[engine]
runtime = "{runtime}"
runtime_supports_json = ["crun", "runc", "pyrunc"]
[engine.runtimes]
pyrunc = ["{pyrunc}"]
runc = ["{runc}"]
"""


@pytest.fixture(params=RUNTIMES)
def podman(request, tmp_path):
    """podman as root with nothing cgroup-specific configured: its default on a systemd host
    is cgroup_manager = "systemd"."""
    conf = tmp_path / "containers.conf"
    conf.write_text(CONTAINERS_CONF.format(runtime=request.param, pyrunc=PYRUNC, runc=RUNC))
    storage = tmp_path / "storage"
    storage.mkdir()
    # a tmpfs: the VM's own files are an overlay already, which overlayfs cannot stack on
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(storage)], check=True)
    (tmp_path / "storage.conf").write_text(f'[storage]\ndriver = "overlay"\ngraphroot = "{storage}"\n'
                                           f'runroot = "{tmp_path}/run"\n')
    env = dict(os.environ, CONTAINERS_CONF=str(conf), CONTAINERS_STORAGE_CONF=str(tmp_path / "storage.conf"))

    def podman(*args, timeout=180):
        cp = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout, env=env,
                            stdin=subprocess.DEVNULL)
        return Result(cp.returncode, cp.stdout, cp.stderr)
    podman.runtime = request.param
    r = podman("info", "--format", "{{.Host.CgroupManager}}")
    assert r.out.strip() == "systemd", r
    assert podman("import", "-q", _image_tar(tmp_path), "localhost/bb").rc == 0
    try:
        yield podman
    finally:
        podman("rm", "--all", "--force", "--time", "0")
        subprocess.run(["umount", "-R", str(storage)], capture_output=True)


def test_podman_with_its_systemd_defaults(podman):
    r = podman("run", "--rm", "--network", "none", "localhost/bb", "echo", "hello", podman.runtime)
    assert r.rc == 0 and r.out == f"hello {podman.runtime}\n", r
    r = podman("run", "-d", "--network", "none", "--memory", "64m", "--pids-limit", "30", "--cpus", "0.5",
               "localhost/bb", "sleep", "1000")
    assert r.rc == 0, r
    cid = r.out.strip()
    unit = f"libpod-{cid}.scope"
    assert show(unit, "ActiveState", "Slice", "MemoryMax", "TasksMax", "CPUQuotaPerSecUSec") == {
        "ActiveState": "active", "Slice": "machine.slice", "MemoryMax": str(64 << 20), "TasksMax": "30",
        "CPUQuotaPerSecUSec": "500ms"}
    r = podman("exec", cid, "cat", "/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/pids.max", "/sys/fs/cgroup/cpu.max")
    assert r.rc == 0 and r.out.split() == [str(64 << 20), "30", "50000", "100000"], r
    assert podman("pause", cid).rc == 0
    assert podman("inspect", "-f", "{{.State.Status}}", cid).out.strip() == "paused"
    assert podman("unpause", cid).rc == 0
    assert podman("exec", cid, "true").rc == 0
    assert podman("stop", "-t", "1", cid).rc == 0
    assert podman("rm", cid).rc == 0
    assert gone(unit)


CONTAINERD_CONF = """\
version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{d}/containerd.sock"
[ttrpc]
  address = "{d}/containerd-ttrpc.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
"""


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_containerd_with_systemd_cgroup(containerd_turn, runtime, tmp_path):
    """The runc shim's SystemdCgroup option (ctr --runc-systemd-cgroup) with the runtime as
    its BinaryName (--runc-binary): run, exec, metrics, kill, delete."""
    from engines import oci_archive
    d = tmp_path / "ctd"
    d.mkdir()
    # a tmpfs: the VM's own files are an overlay already, which overlayfs cannot stack on
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(d)], check=True)
    (d / "config.toml").write_text(CONTAINERD_CONF.format(d=d))
    daemon = subprocess.Popen(["containerd", "--config", str(d / "config.toml")], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    ctr = ["ctr", "--address", str(d / "containerd.sock")]
    try:
        deadline = time.monotonic() + 60
        while sh(*ctr, "version").rc != 0:
            assert time.monotonic() < deadline, "containerd did not start"
            time.sleep(0.2)
        image = oci_archive(str(tmp_path / "image.tar"), _image_tar(tmp_path), "localhost/bb:latest")
        assert sh(*ctr, "images", "import", image).rc == 0
        opts = ["--runc-binary", binary(runtime), "--runc-systemd-cgroup"]
        r = sh(*ctr, "run", "--rm", *opts, "--cgroup", "system.slice:containerd:c1", "localhost/bb:latest", "c1",
               "cat", "/proc/self/cgroup")
        assert r.rc == 0 and r.out == "0::/system.slice/containerd-c1.scope\n", r
        assert gone("containerd-c1.scope")
        r = sh(*ctr, "run", "-d", *opts, "--memory-limit", str(64 << 20),
               "--cgroup", "kubepods-besteffort-podx.slice:cri-containerd:c2", "localhost/bb:latest", "c2",
               "sleep", "1000")
        assert r.rc == 0, r
        assert show("cri-containerd-c2.scope", "ActiveState", "MemoryMax") == {"ActiveState": "active",
                                                                              "MemoryMax": str(64 << 20)}
        r = sh(*ctr, "task", "exec", "--exec-id", "e1", "c2", "cat", "/proc/self/cgroup")
        assert r.rc == 0 and r.out.endswith("/cri-containerd-c2.scope\n"), r
        r = sh(*ctr, "task", "metrics", "c2")
        assert r.rc == 0 and "memory" in r.out, r
        assert sh(*ctr, "task", "kill", "-s", "SIGKILL", "c2").rc == 0
        deadline = time.monotonic() + 20
        while "STOPPED" not in sh(*ctr, "task", "ls").out and time.monotonic() < deadline:
            time.sleep(0.2)
        assert sh(*ctr, "task", "delete", "c2").rc == 0
        assert sh(*ctr, "container", "delete", "c2").rc == 0
        assert gone("cri-containerd-c2.scope")
    finally:
        for c in ("c1", "c2"):
            sh(*ctr, "task", "kill", "-s", "SIGKILL", c)
            sh(*ctr, "task", "delete", "-f", c)
            sh(*ctr, "container", "delete", c)
        daemon.terminate()
        daemon.wait(timeout=30)
        subprocess.run(["umount", "-R", str(d)], capture_output=True)


# --- rootless: the user's own systemd ------------------------------------------------------

USER = "pyrunc-rl"  # scripts/rootless-user.sh: ids 200000-265535 in /etc/subuid, /etc/subgid


@pytest.fixture
def user_systemd():
    """The user's systemd instance (as lingering would start it): user@UID.service with
    XDG_RUNTIME_DIR, which pam_systemd would set (the VM has no logind session); one test
    at a time, since stopping it ends every process of the user."""
    lock = one_at_a_time("rootless")
    import pwd
    pw = pwd.getpwnam(USER)
    os.makedirs(pw.pw_dir, exist_ok=True)
    os.chown(pw.pw_dir, pw.pw_uid, pw.pw_gid)
    if not os.path.exists("/etc/pam.d/systemd-user"):
        with open("/etc/pam.d/systemd-user", "w") as f:
            f.write("account required pam_unix.so\nsession required pam_unix.so\n")
    os.makedirs("/etc/systemd/system/user@.service.d", exist_ok=True)
    with open("/etc/systemd/system/user@.service.d/pyrunc-test.conf", "w") as f:
        f.write("[Service]\nEnvironment=XDG_RUNTIME_DIR=/run/user/%i\n")
    assert sh("systemctl", "daemon-reload").rc == 0
    r = sh("systemctl", "start", f"user@{pw.pw_uid}.service")
    assert r.rc == 0, r
    try:
        yield pw
    finally:
        sh("systemctl", "stop", f"user@{pw.pw_uid}.service")
        lock.close()


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_rootless_podman_memory_limit_enforced(user_systemd, runtime, tmp_path):
    """Rootless podman (cgroup_manager systemd: the user's manager, over the user's bus)
    runs the runtime as root of its user namespace with XDG_RUNTIME_DIR and no
    DBUS_SESSION_BUS_ADDRESS; the container's unit is delegated a cgroup by the user's
    systemd, and --memory 64m is enforced: an allocating process is OOM-killed."""
    pw = user_systemd
    home = tmp_path / "home"
    home.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=755", "tmpfs", str(home)], check=True)
    (home / ".config" / "containers").mkdir(parents=True)
    (home / ".config" / "containers" / "containers.conf").write_text(
        CONTAINERS_CONF.format(runtime=runtime, pyrunc=PYRUNC, runc=RUNC))
    image = _image_tar(tmp_path)
    os.chmod(image, 0o644)
    for p in [tmp_path, *tmp_path.parents]:
        if str(p).startswith("/tmp/"):
            os.chmod(p, os.stat(p).st_mode | 0o111)
    subprocess.run(["chown", "-R", f"{pw.pw_uid}:{pw.pw_gid}", str(home)], check=True)
    run_dir = f"/run/user/{pw.pw_uid}"
    as_user = ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--init-groups",
               "env", "-i", f"HOME={home}", f"XDG_RUNTIME_DIR={run_dir}", f"USER={USER}",
               "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "podman"]
    try:
        r = sh(*as_user, "info", "--format", "{{.Host.CgroupManager}} {{.Host.OCIRuntime.Name}}")
        assert r.out.split() == ["systemd", runtime], r
        assert sh(*as_user, "import", "-q", image, "localhost/bb").rc == 0
        r = sh(*as_user, "run", "-d", "--network", "none", "--memory", "64m", "localhost/bb", "sleep", "1000")
        assert r.rc == 0, r
        cid = r.out.strip()
        scope = (f"/sys/fs/cgroup/user.slice/user-{pw.pw_uid}.slice/user@{pw.pw_uid}.service/user.slice/"
                 f"libpod-{cid}.scope")
        assert read(scope + "/memory.max") == str(64 << 20)
        assert sh(*as_user, "rm", "-f", "-t", "0", cid).rc == 0
        hog = "a=$(dd if=/dev/zero bs=1M count=200 2>/dev/null | tr '\\000' x); echo survived ${#a}"
        r = sh(*as_user, "run", "--rm", "--network", "none", "--memory", "64m", "--memory-swap", "64m",
               "localhost/bb", "sh", "-c", hog)
        assert r.rc == 137 and "survived" not in r.out, r
    finally:
        sh(*as_user, "rm", "--all", "--force", "--time", "0")
        subprocess.run(["umount", "-R", str(home)], capture_output=True)


@pytest.mark.skipif(not V2 or not os.access("/usr/sbin/criu", os.X_OK), reason="the systemd VM, with Debian's criu")
def test_checkpoint_restore_into_the_unit(rt):
    """checkpoint and restore with --systemd-cgroup: the restored process is born in the
    container's unit again (CRIU is put into it first).  Debian 12's criu works on the VM's
    kernel; it dumps sockets through the sock_diag modules and wants lo up."""
    for m in ("unix_diag", "inet_diag", "tcp_diag", "udp_diag", "netlink_diag", "af_packet_diag"):
        sh("modprobe", m)
    sh("ip", "link", "set", "lo", "up")
    cid = rt.new_id()
    path, unit, cg = _form(rt, "libpod", cid)
    rt.units.append(unit)
    b = rt.bundle(["sleep", "1000"], path, {"pids": {"limit": 40}})
    # stdio: /dev/null (CRIU cannot dump a descriptor of a file outside the container)
    base = [binary(rt.name), "--root", rt.root, "--systemd-cgroup", "--criu", "/usr/sbin/criu"]

    def call(*args):
        # (run's stderr is the container's: /dev/null, not a pipe it would hold open)
        err = subprocess.DEVNULL if args[0] == "run" else subprocess.PIPE
        cp = subprocess.run(base + list(args), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=err, text=True, timeout=300)
        assert cp.returncode == 0, (args, cp.stderr)

    call("run", "-d", "--bundle", b, cid)
    images = str(rt.tmp / "images")
    call("checkpoint", "--image-path", images, cid)
    assert rt("state", cid).rc != 0
    call("restore", "-d", "--image-path", images, "--bundle", b, cid)
    st = json.loads(rt("state", cid).out)
    assert st["status"] == "running", st
    assert show(unit, "ActiveState", "TasksMax") == {"ActiveState": "active", "TasksMax": "40"}
    assert str(st["pid"]) in read("/sys/fs/cgroup" + cg + "/cgroup.procs").split()
    with open(f"/proc/{st['pid']}/cmdline") as f:
        assert f.read() == "sleep\x001000\x00"
    assert rt("delete", "--force", cid).rc == 0
    assert gone(unit)

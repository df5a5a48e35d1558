"""Kubernetes' node path: containerd's CRI plugin runs pods on pyrunc, driven over the CRI
gRPC API as kubelet drives it, and the same tests pass with runc.

containerd gets a runtime handler (what a RuntimeClass's `handler` selects) whose runc shim
uses the runtime under test as BinaryName; the test sends RunPodSandbox with that handler,
then CreateContainer/StartContainer/ExecSync/Exec/ContainerStats/UpdateContainerResources/
StopContainer/RemoveContainer/StopPodSandbox/RemovePodSandbox (cri_api.py).  Everything runs
in the engines' sandbox (engines.py): containerd's root, state, sockets and configuration
in the test's directory, a tmpfs /run (shims put their sockets under /run/containerd/s
whatever the configuration says), a private network namespace in which CNI's bridge plugin
(Debian's containernetworking-plugins) wires the pods, and the streaming server (attached
Exec) listens on that namespace's 127.0.0.1, where the WebSocket client runs (cri_stream.py).
The pause image is catatonit, built here; the workload image is busybox-static.

Facts of this machine in the configuration: CRI gives a sandbox oom_score_adj -998, which
needs CAP_SYS_RESOURCE this host does not have (restrict_oom_score_adj = true, as for
rootless); CRI adds the loopback itself (no `loopback` in the CNI list); ipMasq is off, so no
iptables rule is made; host-local keeps its leases in the test's directory.

PYRUNC_CRI_SYSTEMD=1 (set in the systemd VM, test_systemd_vm.py) selects `SystemdCgroup =
true`, the configuration kubeadm makes: pods get a slice as cgroup parent and containers
become cri-containerd-<id>.scope units.
"""

import json
import os
import subprocess
import sys
import tarfile
import time
import uuid

import pytest

from engines import Holder, have, host_net_state, image_tar, new_tag, oci_archive, remove_cgroups, runtime_path

pytestmark = pytest.mark.skipif(
    not have("containerd", "ctr", "containerd-shim-runc-v2", "nsenter", "catatonit", "/usr/lib/cni/bridge",
             "/usr/lib/cni/host-local"),
    reason="containerd or containernetworking-plugins not installed (scripts/setup.sh --engines)")

HERE = os.path.dirname(os.path.abspath(__file__))
SYSTEMD = os.environ.get("PYRUNC_CRI_SYSTEMD") == "1"
IMAGE = "localhost/pyrunc-busybox:latest"
PAUSE = "localhost/pyrunc-pause:latest"
SUBNET = "10.88.7"

# root and state on the sandbox's tmpfs /var/lib and /run: the snapshots are overlay mounts,
# whose upper directory cannot be on an overlay (the systemd VM's /tmp)
CONFIG = """\
version = 2
root = "/var/lib/pyrunc-cri"
state = "/run/pyrunc-cri"

[grpc]
  address = "{dir}/containerd.sock"

[ttrpc]
  address = "{dir}/containerd-ttrpc.sock"

[plugins."io.containerd.internal.v1.opt"]
  path = "{dir}/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause}"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = "{dir}/cni"

[plugins."io.containerd.grpc.v1.cri".containerd]
  default_runtime_name = "{handler}"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{handler}]
  runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{handler}.options]
  BinaryName = "{binary}"
  SystemdCgroup = {systemd}
"""

CNI = {
    "cniVersion": "1.0.0",
    "name": "pyrunc-cri",
    "plugins": [{"type": "bridge", "bridge": "cri0", "isGateway": True, "ipMasq": False,
                 "ipam": {"type": "host-local", "ranges": [[{"subnet": f"{SUBNET}.0/24"}]],
                          "dataDir": "{dir}/cni-leases"}}],
}


def pause_image(path, tmp):
    """The sandbox image: catatonit in pause mode (-P), as Kubernetes' pause does."""
    layer = os.path.join(tmp, "pause-layer.tar")
    with tarfile.open(layer, "w") as t:
        for d in ("dev", "proc", "sys", "etc"):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            t.addfile(info)
        t.add("/usr/bin/catatonit", arcname="catatonit")
    return oci_archive(path, layer, PAUSE, config={"Entrypoint": ["/catatonit", "-P"], "User": "65535:65535"})


class Cri:
    """One containerd with its CRI plugin, a runtime handler named after the runtime, and the
    RuntimeService client."""

    def __init__(self, runtime, tmp):
        from cri_api import RuntimeService
        self.runtime = runtime
        self.handler = runtime
        self.binary = runtime_path(runtime)
        self.dir = str(tmp)
        self.tag = new_tag()
        # cgroupfs: an absolute parent of ours; systemd: a slice (pyrunc-eng-<tag>.slice sits
        # in pyrunc.slice/pyrunc-eng.slice, as kubelet's kubepods-*.slice names nest)
        self.cgparent = f"pyrunc-eng-{self.tag}.slice" if SYSTEMD else f"/pyrunc-eng-{self.tag}"
        self.sock = os.path.join(self.dir, "containerd.sock")
        os.makedirs(os.path.join(self.dir, "cni"))
        with open(os.path.join(self.dir, "cni", "10-pyrunc.conflist"), "w") as f:
            f.write(json.dumps(CNI).replace("{dir}", self.dir))
        conf = os.path.join(self.dir, "config.toml")
        with open(conf, "w") as f:
            f.write(CONFIG.format(dir=self.dir, pause=PAUSE, handler=self.handler, binary=self.binary,
                                  systemd="true" if SYSTEMD else "false"))
        self.holder = Holder(keep_run=("dbus", "systemd") if SYSTEMD else ())
        self.log = open(os.path.join(self.dir, "containerd.log"), "w")
        self.daemon = subprocess.Popen(self.holder.cmd(["containerd", "--config", conf]),
                                       stdout=self.log, stderr=subprocess.STDOUT)
        self.svc = RuntimeService(self.sock)
        import grpc
        for _ in range(300):
            assert self.daemon.poll() is None, open(self.log.name).read()
            try:
                if os.path.exists(self.sock) and self.svc.Version(_deadline=2).get("runtime_name"):
                    break
            except grpc.RpcError:
                pass
            time.sleep(0.1)
        else:
            raise AssertionError("containerd's CRI did not answer: " + open(self.log.name).read()[-3000:])
        self.pods = []

    def ctr(self, *args):
        cp = subprocess.run(self.holder.cmd(["ctr", "--address", self.sock, "--namespace", "k8s.io", *args]),
                            capture_output=True, text=True, timeout=120)
        assert cp.returncode == 0, cp
        return cp.stdout

    def pod(self, name, network=None, hostname=None):
        """RunPodSandbox with this runtime handler; returns (pod id, its config)."""
        from cri_api import CONTAINER, NODE, POD
        uid = str(uuid.uuid4())
        logs = os.path.join(self.dir, "logs", name)
        os.makedirs(logs, exist_ok=True)
        parent = (f"pyrunc-eng-{self.tag}-{name}.slice" if SYSTEMD else f"{self.cgparent}/{name}")
        config = {"metadata": {"name": name, "uid": uid, "namespace": "default", "attempt": 0},
                  # a host-network pod keeps the host's name: kubelet sends none
                  "hostname": "" if network == NODE else (hostname or name),
                  "log_directory": logs,
                  "labels": {"app": name},
                  "linux": {"cgroup_parent": parent,
                            "security_context": {"namespace_options": {
                                "network": POD if network is None else network, "pid": CONTAINER, "ipc": POD}}}}
        pod_id = self.svc.RunPodSandbox(config=config, runtime_handler=self.handler)["pod_sandbox_id"]
        self.pods.append(pod_id)
        return pod_id, config

    def container(self, pod, name, command, start=True, linux=None, **more):
        """CreateContainer (and StartContainer) in `pod`; the namespace options are the pod's,
        as kubelet repeats them for each container (proto3's zero would be POD for pid too)."""
        pod_id, pod_config = pod
        linux = dict(linux or {})
        sc = linux["security_context"] = dict(linux.get("security_context", {}))
        sc.setdefault("namespace_options", pod_config["linux"]["security_context"]["namespace_options"])
        config = {"metadata": {"name": name, "attempt": 0}, "image": {"image": IMAGE},
                  "command": command, "log_path": f"{name}.log", "linux": linux, **more}
        cid = self.svc.CreateContainer(pod_sandbox_id=pod_id, config=config,
                                       sandbox_config=pod_config)["container_id"]
        if start:
            self.svc.StartContainer(container_id=cid)
        return cid

    def status(self, cid):
        r = self.svc.ContainerStatus(container_id=cid, verbose=True)
        st = r["status"]
        st["info"] = json.loads(r.get("info", {}).get("info", "{}"))
        return st

    def exec_sync(self, cid, *cmd, timeout=30):
        r = self.svc.ExecSync(container_id=cid, cmd=list(cmd), timeout=timeout)
        return r.get("exit_code", 0), r.get("stdout", b"").decode(), r.get("stderr", b"").decode()

    def ok(self, cid, *cmd):
        rc, out, err = self.exec_sync(cid, *cmd)
        assert rc == 0, (cmd, rc, out, err)
        return out

    def remove_pod(self, pod_id):
        self.svc.StopPodSandbox(pod_sandbox_id=pod_id)
        self.svc.RemovePodSandbox(pod_sandbox_id=pod_id)
        if pod_id in self.pods:
            self.pods.remove(pod_id)

    def close(self):
        """Pods removed through CRI (as kubelet would), then containerd stopped; what is left
        in the sandbox's mount namespace (shims are not containerd's children) ends with it."""
        errors = []
        for item in self.svc.ListPodSandbox().get("items", []):
            try:
                self.remove_pod(item["id"])
            except Exception as e:  # noqa: BLE001 - reported below, teardown goes on
                errors.append(f"{item['id']}: {e}")
        self.svc.close()
        from engines import stop_daemon
        stop_daemon(self.daemon, 20)
        self.log.close()
        self.holder.close()
        if SYSTEMD:
            return errors, []
        # the pods' own cgroups (<parent>/<pod>) are kubelet's to make and remove (here: the
        # test's); a container's cgroup left in one is a leak
        from engines import cgroup_dirs
        left = [os.path.join(d, p, c) for d in cgroup_dirs(self.cgparent) for p in os.listdir(d)
                if os.path.isdir(os.path.join(d, p)) for c in os.listdir(os.path.join(d, p))
                if os.path.isdir(os.path.join(d, p, c))]
        remove_cgroups(self.cgparent)
        return errors, left


@pytest.fixture(scope="module", params=["pyrunc", "runc"])
def cri(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(f"cri-{request.param}")
    before = host_net_state()
    c = Cri(request.param, tmp)
    try:
        layer = image_tar(str(tmp / "layer.tar"), str(tmp))
        c.ctr("images", "import", oci_archive(str(tmp / "image.tar"), layer, IMAGE))
        c.ctr("images", "import", pause_image(str(tmp / "pause.tar"), str(tmp)))
        yield c
    finally:
        errors, left = c.close()
        after = host_net_state()
    assert not errors, f"pods could not be removed through CRI: {errors}"
    assert not left, f"CRI left cgroups behind: {left}"
    assert after == before, f"the host's network changed: {before} -> {after}"


@pytest.fixture
def pod(cri, request):
    p = cri.pod(request.node.name.split("[")[0].replace("_", "-")[:40])
    try:
        yield p
    finally:
        if p[0] in cri.pods:  # not removed by the test itself
            cri.remove_pod(p[0])


def proc_cgroup(pid):
    """{controller: path} of a process (v2: the key "")."""
    out = {}
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            for c in ctrls.split(","):
                out[c] = path.strip()
    return out


def cgroup_value(pid, v1, v2):
    """A cgroup file of the process's cgroup: v1 (controller, file) where that controller is
    a v1 hierarchy, else the v2 file."""
    cg = proc_cgroup(pid)
    if v1[0] in cg:
        path = f"/sys/fs/cgroup/{v1[0]}{cg[v1[0]]}/{v1[1]}"
    else:
        path = f"/sys/fs/cgroup{cg['']}/{v2}"
    with open(path) as f:
        return f.read().strip()


def test_pod_lifecycle(cri, pod):
    """RunPodSandbox to RemovePodSandbox, with the chosen runtime running both the pause
    container and the workload; the container's output reaches CRI's log in CRI's format."""
    pod_id, _ = pod
    st = cri.svc.PodSandboxStatus(pod_sandbox_id=pod_id)["status"]
    assert st.get("state", 0) == 0 and st["network"]["ip"].startswith(SUBNET + "."), st
    cid = cri.container(pod, "main", ["sh", "-c", "echo hello from $(hostname); exec sleep 1000"])
    status = cri.status(cid)
    assert status["state"] == 1, status  # RUNNING
    pid = status["info"]["pid"]
    for _ in range(100):  # (the shell execs sleep soon after its echo)
        with open(f"/proc/{pid}/cmdline") as f:
            if f.read() == "sleep\x001000\x00":
                break
        time.sleep(0.1)
    else:
        raise AssertionError(f"the container's init is not the command: {open(f'/proc/{pid}/cmdline').read()!r}")
    # the runtime that runs it is the handler's binary: its own state file under the shim's root
    for c in (pod_id, cid):
        cp = subprocess.run(cri.holder.cmd(["cat", f"/run/containerd/runc/k8s.io/{c}/state.json"]),
                            capture_output=True, text=True)
        assert cp.returncode == 0, cp
        assert ("runtime" in json.loads(cp.stdout)) == (cri.runtime == "pyrunc"), cp.stdout[:200]
    for _ in range(50):
        log = open(status["log_path"]).read() if os.path.exists(status["log_path"]) else ""
        if log:
            break
        time.sleep(0.1)
    stream, tag, line = log.split(" ", 1)[1].rstrip("\n").split(" ", 2)
    assert (stream, tag, line) == ("stdout", "F", "hello from test-pod-lifecycle"), log
    # sleep as pid 1 ignores SIGTERM: StopContainer's timeout passes and SIGKILL follows
    t = time.monotonic()
    cri.svc.StopContainer(container_id=cid, timeout=1)
    assert time.monotonic() - t < 15
    status = cri.status(cid)
    assert status["state"] == 2 and status["exit_code"] == 137, status  # EXITED
    cri.svc.RemoveContainer(container_id=cid)
    assert cid not in [c["id"] for c in cri.svc.ListContainers().get("containers", [])]
    cri.remove_pod(pod_id)
    assert pod_id not in [p["id"] for p in cri.svc.ListPodSandbox().get("items", [])]
    assert not os.path.exists(f"/proc/{pid}")


def test_exit_code_and_error(cri, pod):
    cid = cri.container(pod, "exits", ["sh", "-c", "exit 3"])
    for _ in range(100):
        status = cri.status(cid)
        if status["state"] == 2:
            break
        time.sleep(0.05)
    assert status["state"] == 2 and status["exit_code"] == 3, status
    import grpc
    cid = cri.container(pod, "missing", ["/no/such/binary"], start=False)
    with pytest.raises(grpc.RpcError) as e:
        cri.svc.StartContainer(container_id=cid)
    assert "/no/such/binary" in e.value.details() and "no such file" in e.value.details().lower(), e.value


def test_resources_security_update_stats(cri, pod):
    """CreateContainer's resources and security context applied (seen from inside and in the
    cgroup), UpdateContainerResources changing them live, ContainerStats reading them."""
    linux = {"resources": {"cpu_period": 100000, "cpu_quota": 50000, "cpu_shares": 512,
                           "memory_limit_in_bytes": 64 << 20},
             "security_context": {"run_as_user": {"value": 1000}, "run_as_group": {"value": 1001},
                                  "readonly_rootfs": True, "no_new_privs": True,
                                  "capabilities": {"drop_capabilities": ["ALL"],
                                                   "add_capabilities": ["NET_BIND_SERVICE"]}}}
    cid = cri.container(pod, "limited", ["sleep", "1000"], linux=linux)
    assert cri.ok(cid, "id", "-u").strip() == "1000"
    assert cri.ok(cid, "id", "-g").strip() == "1001"
    status = dict(l.split(":\t", 1) for l in cri.ok(cid, "cat", "/proc/self/status").splitlines() if ":\t" in l)
    assert int(status["CapEff"], 16) == 1 << 10 or int(status["CapBnd"], 16) == 1 << 10, status  # NET_BIND_SERVICE
    assert int(status["CapBnd"], 16) == 1 << 10, status
    assert status["NoNewPrivs"].strip() == "1", status
    rc, _, err = cri.exec_sync(cid, "touch", "/written")
    assert rc != 0 and "Read-only file system" in err, err
    pid = cri.status(cid)["info"]["pid"]
    assert cgroup_value(pid, ("memory", "memory.limit_in_bytes"), "memory.max") == str(64 << 20)
    assert cgroup_value(pid, ("cpu", "cpu.cfs_quota_us"), "cpu.max").split()[0] == "50000"

    t = time.monotonic()
    cri.svc.UpdateContainerResources(container_id=cid, linux={
        "cpu_period": 100000, "cpu_quota": 25000, "cpu_shares": 512, "memory_limit_in_bytes": 96 << 20})
    update_s = time.monotonic() - t
    assert cgroup_value(pid, ("memory", "memory.limit_in_bytes"), "memory.max") == str(96 << 20)
    assert cgroup_value(pid, ("cpu", "cpu.cfs_quota_us"), "cpu.max").split()[0] == "25000"
    print(f"UpdateContainerResources with {cri.runtime}: {update_s * 1000:.1f} ms")

    cri.ok(cid, "sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done")
    stats = cri.svc.ContainerStats(container_id=cid)["stats"]
    assert stats["attributes"]["id"] == cid
    assert stats["memory"]["working_set_bytes"]["value"] > 0, stats
    assert stats["cpu"]["usage_core_nano_seconds"]["value"] > 0, stats


def test_exec_sync(cri, pod):
    cid = cri.container(pod, "target", ["sleep", "1000"])
    rc, out, err = cri.exec_sync(cid, "sh", "-c", "echo out; echo err >&2; cat /proc/1/cmdline; exit 5")
    assert (rc, out, err) == (5, "out\nsleep\x001000\x00", "err\n")
    rc, out, _ = cri.exec_sync(cid, "sh", "-c", "echo $$; readlink /proc/1/ns/pid; readlink /proc/self/ns/pid")
    lines = out.split()
    assert rc == 0 and lines[0] != "1" and lines[1] == lines[2], out


def test_attached_exec(cri, pod):
    """CRI's Exec gives a URL of the streaming server; the client opens it as kubectl's
    WebSocket (channel protocol), types into the shell and reads its stdout, stderr and exit."""
    cid = cri.container(pod, "attached", ["sleep", "1000"])
    url = cri.svc.Exec(container_id=cid, cmd=["sh"], stdin=True, stdout=True, stderr=True)["url"]
    cp = subprocess.run(cri.holder.cmd([sys.executable, os.path.join(HERE, "cri_stream.py"), url]),
                        input=b"echo hi from $$; echo oops >&2; exit 7\n", capture_output=True, timeout=60)
    assert cp.returncode == 0, cp
    got = json.loads(cp.stdout)
    assert got["protocol"] == "v4.channel.k8s.io", got
    assert got["stdout"].startswith("hi from ") and got["stderr"] == "oops\n", got
    status = json.loads(got["status"])
    assert status["status"] == "Failure", status
    causes = {c["reason"]: c["message"] for c in status["details"]["causes"]}
    assert causes["ExitCode"] == "7", status


def test_two_containers_share_the_pod(cri, pod):
    """Two containers of one pod join the pause container's network, IPC and UTS namespaces
    (each has its own pid namespace, CRI's default), and see the pod's address."""
    pod_id, _ = pod
    a = cri.container(pod, "a", ["sleep", "1000"])
    b = cri.container(pod, "b", ["sleep", "1000"])
    ns = {c: cri.ok(c, "sh", "-c", "for n in net ipc uts pid; do readlink /proc/self/ns/$n; done").split()
          for c in (a, b)}
    assert ns[a][:3] == ns[b][:3], ns
    assert ns[a][3] != ns[b][3], ns
    assert ns[a][0] != os.readlink("/proc/self/ns/net")
    assert cri.ok(a, "hostname") == cri.ok(b, "hostname") == "test-two-containers-share-the-pod\n"
    ip = cri.svc.PodSandboxStatus(pod_sandbox_id=pod_id)["status"]["network"]["ip"]
    assert f"inet {ip}/24" in cri.ok(b, "ip", "-4", "addr", "show", "eth0")
    # the pause container holds the namespaces: the pod's sandbox init is a catatonit
    pause_pid = json.loads(cri.svc.PodSandboxStatus(pod_sandbox_id=pod_id, verbose=True)["info"]["info"])["pid"]
    assert os.readlink(f"/proc/{pause_pid}/ns/net") == ns[a][0]
    assert os.readlink(f"/proc/{pause_pid}/exe").endswith("catatonit") or open(
        f"/proc/{pause_pid}/comm").read().strip() == "catatonit"

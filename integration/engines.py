"""A sandbox for container engines (podman, containerd, docker) driven with a chosen runtime.

Engines are configured through files of the test's own (never /etc or /var) and run inside a
*holder*: a process in a private mount namespace and a new network namespace, which every
engine command enters with nsenter.  In it:

- tmpfs over /run and /var/lib (nothing the engines run needs what is under them):
  podman's blob-info cache (hard-wired to /var/lib/containers/cache), netavark's
  /run/containers/networks, the runtimes' default state roots (/run/pyrunc, /run/runc:
  podman passes no --root) and /run/netns are private;
- the mounts the engines make (overlay rootfs, shm, netns bind mounts) stay in that namespace
  and vanish with it;
- the bridge network, its iptables chains and net.ipv4.ip_forward=1 (which netavark sets and
  never resets) live in the network namespace: nothing of the host's network changes.

Cgroups cannot be namespaced this way (a cgroup namespace would root them under this
session's supervisor cgroup): containers go under an absolute parent /pyrunc-eng-<tag>,
which teardown removes.  Teardown ends every process left in the holder's mount namespace
(conmon, shims, containerd: started by the test, so ours), checked by namespace inode, not name.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import tarfile
import time
import uuid

from conftest import PYRUNC, Result, _kill_and_rmdir

RUNC = shutil.which("runc") or "/usr/bin/runc"
IMAGE_APPLETS = ("sh ls cat echo id hostname mount ps true false sleep grep env head tty stty "
                 "readlink wc kill test printf touch mkdir rm uname ip ifconfig").split()


def runtime_path(name):
    return PYRUNC if name == "pyrunc" else RUNC


def have(*cmds):
    """Whether the engine's commands (or files, given by absolute path) are installed; with
    PYRUNC_REQUIRE_ENGINES=1 (set by scripts/test.sh, which installs them) a missing one fails
    the tests instead of skipping."""
    missing = [c for c in cmds if not (os.path.exists(c) if c.startswith("/") else shutil.which(c))]
    if missing and os.environ.get("PYRUNC_REQUIRE_ENGINES") == "1":
        raise RuntimeError(f"engine tests required, but not installed: {missing} "
                           "(scripts/setup.sh --engines)")
    return not missing


class Holder:
    """A process holding a private mount and network namespace (see the module doc)."""

    SCRIPT = ("mount -t tmpfs -o mode=755 pyrunc-eng /var/lib && {keep}"
              "mount -t tmpfs -o mode=755 pyrunc-eng /run && {restore}"
              "ip link set lo up && echo $$ && exec sleep infinity")

    def __init__(self, keep_run=()):
        """keep_run: directories of /run that stay visible (on a systemd host: dbus and
        systemd, for the systemd cgroup driver), moved over the new /run."""
        keep = "".join(f"mkdir /var/lib/.keep-{d} && mount --rbind /run/{d} /var/lib/.keep-{d} && "
                       for d in keep_run)
        restore = "".join(f"mkdir /run/{d} && mount --move /var/lib/.keep-{d} /run/{d} && " for d in keep_run)
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--net", "--propagation", "private", "--fork",
             "sh", "-c", self.SCRIPT.format(keep=keep, restore=restore)], stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.strip().isdigit():
            self.proc.kill()
            raise RuntimeError(f"engine sandbox did not start: {line!r}")
        self.pid = int(line)
        self.mntns = os.stat(f"/proc/{self.pid}/ns/mnt").st_ino

    def cmd(self, argv):
        return ["nsenter", f"--mount=/proc/{self.pid}/ns/mnt", f"--net=/proc/{self.pid}/ns/net",
                "--"] + list(argv)

    def pids(self):
        """Every process in the holder's mount namespace but the holder itself."""
        out = []
        for p in os.listdir("/proc"):
            if not p.isdigit() or int(p) == self.pid:
                continue
            try:
                if os.stat(f"/proc/{p}/ns/mnt").st_ino == self.mntns:
                    out.append(int(p))
            except OSError:
                pass
        return out

    def close(self):
        for _ in range(50):
            pids = self.pids()
            if not pids:
                break
            for p in pids:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)
        self.proc.stdout.close()


class EngineCli:
    """An engine's command line run in the sandbox: a subclass gives argv(args) (and env)."""

    env = None

    def argv(self, args):
        raise NotImplementedError

    def __call__(self, *args, input=None, timeout=120):
        stdin = None if input is not None else subprocess.DEVNULL
        cp = subprocess.run(self.argv(args), input=input, stdin=stdin, capture_output=True,
                            text=True, timeout=timeout, env=self.env)
        return Result(cp.returncode, cp.stdout, cp.stderr)

    def ok(self, *args, **kw):
        r = self(*args, **kw)
        assert r.rc == 0, r
        return r.out


def stop_daemon(proc, timeout):
    """TERM, then KILL after timeout seconds; reaped either way."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def image_tar(path, tmp, applets=IMAGE_APPLETS):
    """A busybox-static root filesystem packed as a tar (podman and docker import, and the
    layer of the OCI image for containerd)."""
    from pyrunc.demo import make_rootfs
    rootfs = os.path.join(tmp, "image-rootfs")
    make_rootfs(rootfs, applets)
    with tarfile.open(path, "w") as t:
        for name in sorted(os.listdir(rootfs)):
            t.add(os.path.join(rootfs, name), arcname=name)
    shutil.rmtree(rootfs)
    return path


def oci_archive(path, layer_tar, ref, config=None):
    """An OCI image layout archive (what `ctr images import` reads) with one layer; `config`:
    the image's run configuration (Env, Cmd, Entrypoint...).  The index names the image
    (io.containerd.image.name: the name ctr gives it) and its platform, without which
    `ctr images import` does not unpack it for the host and CRI does not see it."""
    import gzip
    import hashlib
    import io

    blobs = {}

    def blob(data):
        d = hashlib.sha256(data).hexdigest()
        blobs[d] = data
        return {"digest": f"sha256:{d}", "size": len(data)}

    with open(layer_tar, "rb") as f:
        raw = f.read()
    gz = gzip.compress(raw, mtime=0)
    layer = blob(gz)
    config = blob(json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": config or {"Env": ["PATH=/bin"], "Cmd": ["sh"]},
        "rootfs": {"type": "layers",
                   "diff_ids": [f"sha256:{hashlib.sha256(raw).hexdigest()}"]}}).encode())
    manifest = blob(json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": dict(config, mediaType="application/vnd.oci.image.config.v1+json"),
        "layers": [dict(layer, mediaType="application/vnd.oci.image.layer.v1.tar+gzip")]}).encode())
    index = {"schemaVersion": 2, "manifests": [dict(
        manifest, mediaType="application/vnd.oci.image.manifest.v1+json",
        platform={"architecture": "amd64", "os": "linux"},
        annotations={"org.opencontainers.image.ref.name": ref,
                     "io.containerd.image.name": ref})]}

    def add(t, name, data):
        info = tarfile.TarInfo(name)
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))

    with tarfile.open(path, "w") as t:
        add(t, "oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
        add(t, "index.json", json.dumps(index).encode())
        for d, data in blobs.items():
            add(t, f"blobs/sha256/{d}", data)
    return path


def cgroup_dirs(parent):
    dirs = [f"/sys/fs/cgroup/{h}{parent}" for h in os.listdir("/sys/fs/cgroup")]
    dirs.append(f"/sys/fs/cgroup{parent}")
    return [d for d in dirs if os.path.isdir(d)]


def remove_cgroups(parent):
    """Remove the cgroup tree the engines made under `parent`; returns what was left in it."""
    left = []
    for d in cgroup_dirs(parent):
        subs = sorted((os.path.join(r, n) for r, ds, _ in os.walk(d) for n in ds),
                      key=len, reverse=True)
        left += [s for s in subs if s.count("/") == d.count("/") + 1]
        for sub in subs:
            _kill_and_rmdir(sub)
        _kill_and_rmdir(d)
        if os.path.isdir(d):
            left.append(f"{d} (could not be removed)")
    return left


def host_net_state():
    """What an engine could leave behind on the host's network: netavark's iptables chains,
    its bridge and veths, and net.ipv4.ip_forward."""
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        fwd = f.read().strip()
    chains = []
    if shutil.which("iptables-save"):
        out = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
        chains = sorted(set(re.findall(r"^:((?:NETAVARK|CNI|PODMAN|DOCKER)\S*)", out, re.M)))
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    links = sorted(n for n in (l.split(":")[1].strip() for l in links.splitlines())
                   if n.startswith(("podman", "cni", "netavark", "docker", "veth")))
    return {"ip_forward": fwd, "chains": chains, "links": links}


def shell_on_a_pty(argv, commands, env=None):
    """Run argv (an engine's `run -t ... sh` or `exec -t ... sh`) on a new pty, as a user at a
    terminal: wait for the shell's prompt, type `commands`, read to the end.  Returns the
    output after the prompt and the engine's exit code."""
    import pty

    from test_terminal import read_until
    pid, fd = pty.fork()
    if pid == 0:
        if env:
            os.environ.update(env)
        os.execvp(argv[0], argv)
    try:
        out = read_until(fd, b"# ", timeout=30)
        assert b"# " in out, out
        os.write(fd, commands.encode() + b"\r")
        out = read_until(fd, b"\x00", timeout=20)
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    return out, os.waitstatus_to_exitcode(status)


def new_tag():
    return uuid.uuid4().hex[:8]

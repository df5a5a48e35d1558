"""Real containers, as root: fixtures that build busybox bundles and clean up after.

Every test gets its own --root state directory, unique container ids and an absolute
cgroupsPath under /pyrunc-test-<pid> (never the caller's own cgroup, which on this host
sits under a supervisor's memory cgroup).  After each test, whatever the outcome, every
container of the test is deleted and the test's cgroups are removed; the test then fails
if anything was left behind: a state directory, a cgroup, a mount or a process.
"""

import json
import os
import signal
import subprocess
import sys
import uuid

import pytest

BIN = os.path.dirname(sys.executable)
PYRUNC = os.path.join(BIN, "pyrunc")
BUSYBOX = "/bin/busybox"
APPLETS = ("sh ls cat echo id hostname domainname mount ps true false sleep grep readlink env "
           "touch mkdir stat umask head wc tr sed printf test ln rm kill uname awk cut "
           "dd mknod chmod nproc nc ip").split()

if os.geteuid() != 0:
    pytest.skip("integration tests run as root", allow_module_level=True)


def shared_tool(rel):
    """A tool of ../shared/tools beside the checkout (REL: "v2vm/v2vm"), or of
    /work/shared/tools for a clone elsewhere; the first path when neither exists."""
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    paths = (os.path.join(os.path.dirname(repo), "shared", "tools", rel), "/work/shared/tools/" + rel)
    return next((p for p in paths if os.access(p, os.X_OK)), paths[0])


CRIU_CACHE = "/var/cache/pyrunc-test/criu4"


def criu_path():
    """A criu that works on this kernel: $PYRUNC_CRIU, or the Debian 13 criu that
    scripts/test.sh fetches (../shared/tools/criu4: Debian 12's fails on 6.18), or None;
    with PYRUNC_REQUIRE_ENGINES=1 (test.sh) a missing one is an error, not a skip."""
    for p in (os.environ.get("PYRUNC_CRIU"), os.path.join(CRIU_CACHE, "criu")):
        if p and os.access(p, os.X_OK):
            return p
    if os.environ.get("PYRUNC_REQUIRE_ENGINES") == "1":
        raise RuntimeError("checkpoint tests required, but no criu: scripts/test.sh fetches it (PYRUNC_CRIU)")
    return None


def make_rootfs(path):
    from pyrunc.demo import make_rootfs as make
    make(path, APPLETS)


def base_config():
    from pyrunc.commands.spec import default_spec
    cfg = default_spec()
    cfg["process"]["terminal"] = False
    return cfg


class Result:
    def __init__(self, rc, out, err):
        self.rc, self.out, self.err = rc, out, err

    def __repr__(self):
        return f"Result(rc={self.rc}, out={self.out!r}, err={self.err!r})"


class Env:
    """One test's pyrunc: its state root, cgroup parent, bundles and containers."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        # A container's root in a user namespace is an unprivileged uid on the host: like
        # runc, pyrunc needs the rootfs and bind sources reachable by it.  pytest makes its
        # directories 0700; open them for traversal (not reading).
        p = tmp_path
        while str(p).startswith("/tmp/") and p != p.parent:
            os.chmod(p, os.stat(p).st_mode | 0o111)
            p = p.parent
        self.root = str(tmp_path / "state")
        self.tag = uuid.uuid4().hex[:10]
        self.cgparent = f"/pyrunc-test-{self.tag}"
        self.ids = []
        self._n = 0
        self.root_cgroup = _root_cgroup_files()
        self.rootfs = str(tmp_path / "rootfs-shared")
        make_rootfs(self.rootfs)

    def new_id(self, prefix="c"):
        self._n += 1
        cid = f"{prefix}-{self.tag}-{self._n}"
        self.ids.append(cid)
        return cid

    def bundle(self, args=None, patch=None, cfg=None, own_rootfs=False):
        """A bundle dir with config.json; patch(cfg) may edit the config dict in place."""
        self._n += 1
        b = self.tmp / f"bundle{self._n}"
        b.mkdir()
        cfg = cfg or base_config()
        if own_rootfs:
            make_rootfs(str(b / "rootfs"))
            cfg["root"]["path"] = "rootfs"
        else:
            cfg["root"]["path"] = self.rootfs
        if args is not None:
            cfg["process"]["args"] = args
        cfg.setdefault("linux", {})["cgroupsPath"] = f"{self.cgparent}/{self._n}"
        if patch:
            patch(cfg)
        (b / "config.json").write_text(json.dumps(cfg))
        return str(b)

    def pyrunc(self, *args, input=None, timeout=60, root=True, wrap=None, **kw):
        """Run pyrunc; stdout and stderr go through files, not pipes: a created container
        inherits them (as under runc), so EOF on a pipe would wait for the container."""
        import tempfile
        cmd = [PYRUNC] + (["--root", self.root] if root else []) + list(args)
        if wrap:
            cmd = ["sh", "-c", wrap, "sh"] + cmd
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            cp = subprocess.run(cmd, input=input, stdout=out, stderr=err, text=True,
                                timeout=timeout, **kw)
            out.seek(0)
            err.seek(0)
            return Result(cp.returncode, out.read(), err.read())

    def run(self, args=None, patch=None, bundle=None, input="", **kw):
        """Run a container to completion; returns Result with its output."""
        bundle = bundle or self.bundle(args, patch)
        return self.pyrunc("run", "--bundle", bundle, self.new_id(), input=input, **kw)

    def sh(self, script, patch=None, **kw):
        return self.run(["sh", "-c", script], patch, **kw)

    def state(self, cid):
        r = self.pyrunc("state", cid)
        assert r.rc == 0, r
        return json.loads(r.out)

    def cgroup_dirs(self):
        dirs = [f"/sys/fs/cgroup/{h}{self.cgparent}" for h in os.listdir("/sys/fs/cgroup")]
        dirs.append(f"/sys/fs/cgroup{self.cgparent}")  # pure cgroup v2
        return [d for d in dirs if os.path.isdir(d)]

    def cleanup(self):
        for cid in self.ids:
            subprocess.run([PYRUNC, "--root", self.root, "delete", "--force", cid],
                           capture_output=True, timeout=60)

    def leftovers(self):
        left = []
        if os.path.isdir(self.root) and os.listdir(self.root):
            left.append(f"state: {os.listdir(self.root)}")
        for d in self.cgroup_dirs():
            subs = [s for s in os.listdir(d) if os.path.isdir(os.path.join(d, s))]
            if subs:
                left.append(f"cgroups: {d}: {subs}")
        if _root_cgroup_files() != self.root_cgroup:
            left.append(f"the host's root cgroup changed: {self.root_cgroup} -> {_root_cgroup_files()}")
        with open("/proc/self/mountinfo") as f:
            mounts = [l for l in f if str(self.tmp) in l]
        if mounts:
            left.append(f"mounts: {mounts}")
        return left

    def remove_cgroups(self):
        for d in self.cgroup_dirs():
            for sub in sorted((os.path.join(r, n) for r, ds, _ in os.walk(d) for n in ds),
                              key=len, reverse=True):
                _kill_and_rmdir(sub)
            _kill_and_rmdir(d)


def _root_cgroup_files():
    """What pyrunc must never change in a hierarchy's root on this host (tests run in
    parallel, so only settings no test may touch are compared)."""
    out = {}
    for d in ("/sys/fs/cgroup/unified",):
        try:
            with open(os.path.join(d, "cgroup.subtree_control")) as f:
                out[d] = f.read().split()
        except OSError:
            pass
    return out


def _kill_and_rmdir(d):
    try:
        with open(os.path.join(d, "cgroup.procs")) as f:
            for pid in f.read().split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
    except OSError:
        pass
    for _ in range(100):
        try:
            os.rmdir(d)
            return
        except FileNotFoundError:
            return
        except OSError:
            import time
            time.sleep(0.02)


@pytest.fixture
def env(tmp_path):
    e = Env(tmp_path)
    try:
        yield e
    finally:
        e.cleanup()
        left = e.leftovers()
        e.remove_cgroups()
        assert not left, f"left behind: {left}"

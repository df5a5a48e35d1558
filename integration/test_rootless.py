"""Rootless: a user without privileges runs `pyrunc spec --rootless` and `pyrunc run`.

The user is pyrunc-rl, made by the test setup (scripts/test.sh → scripts/rootless-user.sh)
with a delegated id range in /etc/subuid and /etc/subgid for newuidmap/newgidmap.  The
state goes under the user's $XDG_RUNTIME_DIR; this host's cgroups are root's, so the
containers run without one (and say so when a command needs it).
"""

import json
import os
import pwd
import subprocess

import pytest

from conftest import PYRUNC

USER = "pyrunc-rl"
SUB_START, SUB_SIZE = 200000, 65536  # what scripts/rootless-user.sh delegates


def _others_can_reach(path):
    """Can a user who is neither owner nor in the group run/read path (o+x up the tree)?"""
    import stat
    p = os.path.realpath(path)
    while True:
        st = os.stat(p)
        if not st.st_mode & (stat.S_IXOTH if stat.S_ISDIR(st.st_mode) or p == os.path.realpath(path)
                             else stat.S_IROTH):
            return False
        if p == "/":
            return True
        p = os.path.dirname(p)


@pytest.fixture(scope="session")
def rl_command(tmp_path_factory):
    """How the user starts pyrunc: the installed one when its checkout is reachable by
    others; else (a checkout under /root, say) a copy of the installed package and the cffi
    backend in a directory the user can read, run by the same interpreter."""
    import shutil
    import sys
    if _others_can_reach(PYRUNC) and _others_can_reach(os.path.realpath(sys.executable)):
        return [PYRUNC]
    import _cffi_backend

    import pyrunc
    d = tmp_path_factory.mktemp("rl-runtime")
    os.chmod(d, 0o755)
    shutil.copytree(os.path.dirname(pyrunc.__file__), d / "pyrunc", symlinks=True)
    shutil.copy2(_cffi_backend.__file__, d)
    p = d
    while str(p).startswith("/tmp/") and p != p.parent:
        os.chmod(p, os.stat(p).st_mode | 0o111)
        p = p.parent
    base = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    return [base, "-I", "-S", "-c",
            f"import sys; sys.path.insert(0, {str(d)!r}); from pyrunc.cli import entry; sys.exit(entry())"]


@pytest.fixture
def rl(env, tmp_path, rl_command):
    try:
        pw = pwd.getpwnam(USER)
    except KeyError:
        pytest.fail(f"user {USER} is missing: scripts/test.sh makes it (scripts/rootless-user.sh)")
    xdg = tmp_path / "xdg"
    xdg.mkdir(mode=0o700)
    os.chown(xdg, pw.pw_uid, pw.pw_gid)
    r = Rootless(env, tmp_path, pw, str(xdg), rl_command)
    try:
        yield r
    finally:
        for cid in r.ids:
            r.pyrunc("delete", "--force", cid)
        state = os.path.join(r.xdg, "pyrunc")
        left = os.listdir(state) if os.path.isdir(state) else []
        assert not left, f"rootless state left behind: {left}"


class Rootless:
    def __init__(self, env, tmp, pw, xdg, command):
        self.env, self.tmp, self.pw, self.xdg, self.command = env, tmp, pw, xdg, command
        self.ids = []

    def bundle(self, script, patch=None, rootless_spec=True):
        """A bundle whose config.json the user writes with `pyrunc spec --rootless`."""
        b = self.tmp / f"rl-bundle{len(self.ids)}"
        b.mkdir()
        os.symlink(self.env.rootfs, b / "rootfs")
        os.chown(b, self.pw.pw_uid, self.pw.pw_gid)
        r = self.pyrunc("spec", *(["--rootless"] if rootless_spec else []), cwd=str(b))
        assert r.returncode == 0, r
        with open(b / "config.json") as f:
            cfg = json.load(f)
        cfg["process"]["terminal"] = False
        cfg["process"]["args"] = ["sh", "-c", script]
        if patch:
            patch(cfg)
        with open(b / "config.json", "w") as f:
            json.dump(cfg, f)
        return str(b)

    def new_id(self):
        cid = self.env.new_id("rl")
        self.ids.append(cid)
        return cid

    def pyrunc(self, *args, cwd=None, timeout=60):
        """pyrunc as the user, with the environment a login would give it."""
        cmd = ["setpriv", f"--reuid={self.pw.pw_uid}", f"--regid={self.pw.pw_gid}", "--clear-groups",
               "env", "-i", "PATH=/usr/bin:/bin", f"XDG_RUNTIME_DIR={self.xdg}", "HOME=/",
               *self.command] + list(args)
        # files, not pipes: a detached container inherits them (see Env.pyrunc)
        import tempfile
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            cp = subprocess.run(cmd, stdout=out, stderr=err, text=True, timeout=timeout, cwd=cwd,
                                stdin=subprocess.DEVNULL)
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(cmd, cp.returncode, out.read(), err.read())


def test_spec_rootless_and_run(rl):
    b = rl.bundle("id -u; cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; hostname; "
                  "ls /sys/fs/cgroup | wc -l")
    cid = rl.new_id()
    r = rl.pyrunc("run", "--bundle", b, cid)
    assert r.returncode == 0 and r.stderr == "", r
    uid, gid = rl.pw.pw_uid, rl.pw.pw_gid
    assert r.stdout.split() == ["0", "0", str(uid), "1", "0", str(gid), "1", "deny", "pyrunc", "0"], r


def test_state_under_xdg_runtime_dir_and_lifecycle(rl):
    b = rl.bundle("sleep 1000")
    cid = rl.new_id()
    r = rl.pyrunc("run", "-d", "--bundle", b, cid)
    assert r.returncode == 0, r
    assert os.path.isdir(os.path.join(rl.xdg, "pyrunc", cid))
    st = json.loads(rl.pyrunc("state", cid).stdout)
    assert st["status"] == "running" and st["id"] == cid
    with open(f"/proc/{st['pid']}/status") as f:  # the container's root is the user
        uids = next(l for l in f if l.startswith("Uid:")).split()[1:]
    assert set(uids) == {str(rl.pw.pw_uid)}
    r = rl.pyrunc("exec", cid, "sh", "-c", "id -u; echo $$")
    assert r.returncode == 0 and r.stdout.split()[0] == "0", r
    assert cid in rl.pyrunc("list", "-q").stdout.split()
    r = rl.pyrunc("ps", cid)
    assert r.returncode != 0 and "has no cgroup" in r.stderr, r
    assert rl.pyrunc("kill", cid, "KILL").returncode == 0
    r = rl.pyrunc("delete", "--force", cid)
    assert r.returncode == 0, r
    assert not os.path.exists(os.path.join(rl.xdg, "pyrunc", cid))


def test_newuidmap_range(rl):
    """A mapping beyond the user's own id goes through newuidmap/newgidmap and the range
    /etc/subuid delegates: other users exist in the container, and setgroups works."""
    maps = [{"containerID": 0, "hostID": rl.pw.pw_uid, "size": 1},
            {"containerID": 1, "hostID": SUB_START, "size": SUB_SIZE}]
    gmaps = [{"containerID": 0, "hostID": rl.pw.pw_gid, "size": 1},
             {"containerID": 1, "hostID": SUB_START, "size": SUB_SIZE}]

    def patch(c):
        c["linux"]["uidMappings"] = maps
        c["linux"]["gidMappings"] = gmaps
        c["process"]["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [2000]}
        c["process"]["capabilities"] = {}
    b = rl.bundle("id; cat /proc/self/uid_map | wc -l; cat /proc/self/setgroups", patch)
    r = rl.pyrunc("run", "--bundle", b, rl.new_id())
    assert r.returncode == 0, r
    lines = r.stdout.split("\n")
    assert lines[0] == "uid=1000 gid=1000 groups=2000", r
    assert lines[1].strip() == "2" and lines[2] == "allow", r


@pytest.mark.parametrize("case", ["no-userns", "resources", "idmap", "undelegated", "groups-denied"])
def test_rootless_refusals(rl, case):
    """Each is one clear error, and leaves no state (the fixture checks)."""
    def patch(c):
        if case == "no-userns":
            c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "user"]
            del c["linux"]["uidMappings"], c["linux"]["gidMappings"]
        elif case == "resources":
            c["linux"]["resources"] = {"pids": {"limit": 10}}
            c["linux"]["cgroupsPath"] = "/pyrunc-rootless-test"
        elif case == "idmap":
            c["mounts"].append({"destination": "/tmp", "type": "bind", "source": "/tmp", "options": ["bind", "idmap"]})
        elif case == "undelegated":
            c["linux"]["uidMappings"].append({"containerID": 1, "hostID": 400000, "size": 10})
        elif case == "groups-denied":
            c["process"]["user"]["additionalGids"] = [5]
    needle = {"no-userns": "needs a new user namespace", "resources": "cannot write",
              "idmap": "not supported for rootless", "undelegated": "newuidmap",
              "groups-denied": "additionalGids"}[case]
    b = rl.bundle("true", patch)
    r = rl.pyrunc("run", "--bundle", b, rl.new_id())
    assert r.returncode != 0 and needle in r.stderr and len(r.stderr.splitlines()) == 1, r


def test_rootless_true_as_root(env):
    """--rootless true as root (as an engine may pass it): cgroups root can write are used,
    and root writes a range mapping itself, without newuidmap or a denied setgroups."""
    def patch(c):
        c["linux"]["namespaces"].append({"type": "user"})
        c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        c["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        c["linux"].pop("resources", None)
        c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "network"]
        c["mounts"] = [m for m in c["mounts"] if m["type"] not in ("sysfs", "cgroup")]
    b = env.bundle(["sh", "-c", "id -u; cat /proc/self/uid_map /proc/self/setgroups"], patch=patch)
    r = env.pyrunc("--rootless", "true", "run", "--bundle", b, env.new_id())
    assert r.rc == 0 and r.out.split() == ["0", "0", "100000", "65536", "allow"], r

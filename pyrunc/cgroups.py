"""Cgroup placement: the container's cgroup in every mounted hierarchy (v1, hybrid, v2).

`linux.cgroupsPath` is honoured as runc's cgroupfs driver honours it: an absolute path is
taken from each hierarchy's root; a relative path, or the container id when the path is
absent, is taken from the caller's own cgroup in that hierarchy.  The resource limits are
the subject of their own issue; here the init is placed, device rules are applied on v1, and
`delete` removes what create made.
"""

import os
import time

from .errors import PyruncError

V1_CONTROLLERS = ("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "net_cls",
                  "net_prio", "blkio", "perf_event", "hugetlb", "pids", "rdma", "misc")


class Hierarchy:
    __slots__ = ("key", "mountpoint", "mountroot", "version", "controllers")

    def __init__(self, key, mountpoint, mountroot, version, controllers):
        self.key, self.mountpoint, self.mountroot = key, mountpoint, mountroot
        self.version, self.controllers = version, controllers

    def __repr__(self):
        return f"Hierarchy({self.key!r}, {self.mountpoint!r}, v{self.version})"


def _unescape(s):
    return s.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")


def probe(mountinfo="/proc/self/mountinfo"):
    """The mounted cgroup hierarchies, first mount of each, keyed by controller or name."""
    found = {}
    with open(mountinfo) as f:
        for line in f:
            left, _, right = line.partition(" - ")
            rf = right.split()
            if len(rf) < 3 or rf[0] not in ("cgroup", "cgroup2"):
                continue
            lf = left.split()
            root, mnt = _unescape(lf[3]), _unescape(lf[4])
            if rf[0] == "cgroup2":
                key, ctrls = "unified", []
                try:
                    with open(os.path.join(mnt, "cgroup.controllers")) as c:
                        ctrls = c.read().split()
                except OSError:
                    pass
                h = Hierarchy(key, mnt, root, 2, ctrls)
            else:
                opts = rf[2].split(",")
                ctrls = [o for o in opts if o in V1_CONTROLLERS or o.startswith("name=")]
                if not ctrls:
                    continue
                key = ctrls[0][5:] if ctrls[0].startswith("name=") else ctrls[0]
                h = Hierarchy(key, mnt, root, 1, ctrls)
            found.setdefault(h.key, h)
    return list(found.values())


def layout(hs):
    v1 = any(h.version == 1 for h in hs)
    v2 = any(h.version == 2 for h in hs)
    return "hybrid" if v1 and v2 else ("v1" if v1 else ("v2" if v2 else "none"))


def own_cgroups(path="/proc/self/cgroup"):
    """{controller or name or '' (v2): path} of the calling process."""
    out = {}
    with open(path) as f:
        for line in f:
            _, ctrls, p = line.rstrip("\n").split(":", 2)
            if ctrls == "":
                out[""] = p
            for c in ctrls.split(","):
                out[c[5:] if c.startswith("name=") else c] = p
    return out


def _clean(p):
    return os.path.normpath("/" + p.lstrip("/"))


def paths_for(cgroups_path, cid, hs=None, own=None):
    """{hierarchy key: host directory} of the container's cgroup."""
    hs = probe() if hs is None else hs
    inner = cgroups_path if cgroups_path else cid
    out = {}
    if inner.startswith("/"):
        for h in hs:
            out[h.key] = h.mountpoint + _clean(inner)
        return out
    own = own_cgroups() if own is None else own
    for h in hs:
        mine = own.get("" if h.version == 2 else h.key, "/")
        if h.mountroot != "/" and mine.startswith(h.mountroot):
            mine = mine[len(h.mountroot):] or "/"
        out[h.key] = h.mountpoint + _clean(mine + "/" + inner)
    return out


def _mkdirs(path, created):
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        _mkdirs(parent, created)
    try:
        os.mkdir(path, 0o755)
        created.append(path)
    except FileExistsError:
        pass


def _copy_if_empty(dirpath, name):
    f = os.path.join(dirpath, name)
    with open(f) as fh:
        if fh.read().strip():
            return
    with open(os.path.join(os.path.dirname(dirpath), name)) as fh:
        value = fh.read().strip()
    with open(f, "w") as fh:
        fh.write(value)


def _write(path, value):
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as e:
        raise PyruncError(f"cgroup: write {value!r} to {path}: {e.strerror}")


# runc's default allow-list, appended after the config's rules (devices controller)
DEFAULT_ALLOW = ["c *:* m", "b *:* m", "c 1:3 rwm", "c 1:8 rwm", "c 1:7 rwm", "c 5:0 rwm",
                 "c 1:5 rwm", "c 1:9 rwm", "c 5:1 rwm", "c 136:* rwm", "c 5:2 rwm", "c 10:200 rwm"]


def device_rules(rules):
    """[(file, rule)] for the v1 devices controller from linux.resources.devices."""
    out = []
    for r in rules or ():
        t = r.get("type", "a")
        major = r.get("major", -1)
        minor = r.get("minor", -1)
        major = "*" if major is None or major < 0 else str(major)
        minor = "*" if minor is None or minor < 0 else str(minor)
        access = r.get("access") or "rwm"
        rule = "a" if t == "a" and major == "*" and minor == "*" else f"{t} {major}:{minor} {access}"
        out.append(("devices.allow" if r["allow"] else "devices.deny", rule))
    if out:
        out += [("devices.allow", d) for d in DEFAULT_ALLOW]
    return out


class Placement:
    """The cgroups of a container being created: the directories this create made, and a
    lock on the devices cgroup held until the init is placed (see create)."""

    def __init__(self, paths):
        self.paths = paths
        self.created = []
        self._lock = None

    def add_pid(self, pid):
        add_pid(self.paths, pid)
        self.release()

    def release(self):
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def undo(self):
        """After a failed create: remove what this create made, kill nothing (a cgroup
        shared with other containers keeps them)."""
        self.release()
        remove(self.created)


def _populated(path):
    try:
        with open(os.path.join(path, "cgroup.procs")) as f:
            return bool(f.read().strip())
    except OSError:
        return False


def create(paths, devices):
    """Make the container's cgroups and apply its device rules; returns a Placement.

    v1 device rules are rewritten from "deny all": a process already in the cgroup would
    see every device denied for a moment.  So they are written under an flock of the
    devices cgroup, held until the init is placed, and only while no process is in it;
    a cgroup shared with running processes keeps its rules (and a warning is logged)."""
    import fcntl
    from .log import log
    pl = Placement(paths)
    created = pl.created
    try:
        for key, path in paths.items():
            new = []
            _mkdirs(path, new)
            created += new
            if key == "cpuset":
                for d in new:
                    _copy_if_empty(d, "cpuset.cpus")
                    _copy_if_empty(d, "cpuset.mems")
        dev = paths.get("devices")
        if dev:
            pl._lock = os.open(dev, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            fcntl.flock(pl._lock, fcntl.LOCK_EX)
            if devices and _populated(dev):
                log.warning(f"cgroup {dev} is shared with running processes: its device rules are left as they are")
            else:
                for fname, rule in device_rules(devices):
                    _write(os.path.join(dev, fname), rule)
        elif devices:
            raise PyruncError("linux.resources.devices: no devices controller on this host "
                              "(cgroup v2 device rules are not supported yet)")
    except OSError as e:
        pl.undo()
        raise PyruncError(f"cgroup: {e.filename}: {e.strerror}")
    except PyruncError:
        pl.undo()
        raise
    return pl


def add_pid(paths, pid):
    for path in paths.values():
        _write(os.path.join(path, "cgroup.procs"), str(pid))


def pids(paths):
    """Every pid in the container's cgroup."""
    for key in ("pids", "freezer", "memory", "unified"):
        if key in paths:
            break
    else:
        if not paths:
            return []
        key = next(iter(paths))
    try:
        with open(os.path.join(paths[key], "cgroup.procs")) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def thaw(paths):
    f = paths.get("freezer")
    if f:
        try:
            with open(os.path.join(f, "freezer.state"), "w") as fh:
                fh.write("THAWED")
        except OSError:
            pass


def kill_all(paths, sig):
    for pid in pids(paths):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def remove(created, paths=None, timeout=5.0):
    """Remove the directories create() made, deepest first; returns the container's own
    directories that could not be removed.

    The container's own directories (the values of paths) are retried while processes are
    leaving them, killing leftovers; a parent that is busy holds other cgroups and stays."""
    leaves = set((paths or {}).values())
    left = []
    deadline = time.monotonic() + timeout
    for d in sorted(set(created) | leaves, key=len, reverse=True):
        while True:
            try:
                os.rmdir(d)
                break
            except FileNotFoundError:
                break
            except OSError:
                if d in leaves and time.monotonic() < deadline:
                    kill_all(paths, 9)
                    thaw(paths)
                    time.sleep(0.01)
                    continue
                if d in leaves:
                    left.append(d)
                break
    return left

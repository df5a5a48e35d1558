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


_probed = None


def probe(mountinfo="/proc/self/mountinfo"):
    """The mounted cgroup hierarchies, first mount of each, keyed by controller or name
    (this process's mounts are read once: a command asks several times)."""
    global _probed
    if mountinfo == "/proc/self/mountinfo":
        if _probed is None:
            _probed = _probe(mountinfo)
        return list(_probed)
    return _probe(mountinfo)


def _probe(mountinfo):
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
    """A new v1 cpuset gets its parent's cpus/mems (empty ones admit no process).  A parent
    that a concurrent create has just made may still be empty: wait for it to be filled."""
    f = os.path.join(dirpath, name)
    with open(f) as fh:
        if fh.read().strip():
            return
    deadline = time.monotonic() + 2.0
    while True:
        with open(os.path.join(os.path.dirname(dirpath), name)) as fh:
            value = fh.read().strip()
        if value or time.monotonic() > deadline:
            break
        time.sleep(0.002)
    with open(f, "w") as fh:
        fh.write(value)


def _write(path, value):
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as e:
        raise PyruncError(f"cgroup: write {value!r} to {path}: {e.strerror}")


class Placement:
    """The cgroups of a container being created: the directories this create made, and a
    lock on the devices cgroup held until the init is placed (see create)."""

    def __init__(self, paths):
        self.paths = paths
        self.created = []
        self._lock = None

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


def _enable_v2(h, leaf, wanted, created, own_only):
    """Enable the wanted controllers in cgroup.subtree_control of every ancestor of leaf in
    the cgroup2 hierarchy h (only those not enabled yet are written).

    On a pure v2 host this goes from the hierarchy's root down, as runc does: nothing works
    otherwise.  On a hybrid host (own_only) the cgroup2 mount is the host's business:
    controllers are enabled only in cgroups this create made, and one that an existing
    ancestor does not pass down is an error."""
    rel = leaf[len(h.mountpoint):].strip("/")
    parts = rel.split("/") if rel else []
    d = h.mountpoint
    for part in parts:
        if own_only and d not in created:
            with open(os.path.join(d, "cgroup.subtree_control")) as f:
                on = set(f.read().split())
            missing = sorted(set(wanted) - on)
            if missing:
                raise PyruncError(
                    f"cgroup: controller {', '.join(missing)} is not enabled in {d}/cgroup.subtree_control; "
                    "on a hybrid host pyrunc enables controllers of the cgroup2 mount only in cgroups it creates")
        else:
            _enable_in(d, wanted)
        d = os.path.join(d, part)


def _enable_in(d, wanted):
    with open(os.path.join(d, "cgroup.controllers")) as f:
        avail = set(f.read().split())
    with open(os.path.join(d, "cgroup.subtree_control")) as f:
        on = set(f.read().split())
    missing = [c for c in sorted(wanted) if c in avail and c not in on]
    if missing:
        _write(os.path.join(d, "cgroup.subtree_control"), " ".join("+" + c for c in missing))


def create(paths, cfg_linux=None, hs=None):
    """Make the container's cgroups, apply its resources and device rules; returns a
    Placement; the executor places the init itself (CGROUP_JOIN), then create releases it.

    Device rules are rewritten from "deny all": a process already in the cgroup would see
    every device denied for a moment.  So they are written under an flock of the devices
    cgroup (v1) or of the cgroup (v2), held until the init is placed, and only while no
    process is in it; a cgroup shared with running processes keeps its rules (a warning
    is logged)."""
    import fcntl
    from . import devices, resources
    from .log import log
    hs = probe() if hs is None else hs
    linux = cfg_linux or {}
    res = linux.get("resources") or {}
    pl = Placement(paths)
    created = pl.created
    if not paths:  # rootless, no cgroup writable: nothing to make or restrict
        return pl
    try:
        for key, path in paths.items():
            new = []
            _mkdirs(path, new)
            created += new
            if key == "cpuset":
                for d in new:
                    _copy_if_empty(d, "cpuset.cpus")
                    _copy_if_empty(d, "cpuset.mems")
        for h in hs:
            if h.version == 2 and h.key in paths:
                pure = layout(hs) == "v2"
                wanted = set(h.controllers) if pure else resources.v2_controllers(res) & set(h.controllers)
                if wanted:
                    _enable_v2(h, paths[h.key], wanted, created, own_only=not pure)
        dirs = resources.Dirs(paths, hs)
        dev = dirs.get("devices")
        target = dev[0] if dev else (dirs.unified if layout(hs) == "v2" else None)
        if target:
            pl._lock = os.open(target, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            fcntl.flock(pl._lock, fcntl.LOCK_EX)
            rules = devices.rules(res.get("devices"), linux.get("devices"))
            if _populated(target):
                if res.get("devices"):
                    log.warning(f"cgroup {target} is shared with running processes: "
                                "its device rules are left as they are")
            elif dev:
                for fname, line in devices.v1_lines(rules):
                    _write(os.path.join(target, fname), line)
            else:
                devices.attach_v2(target, rules)
        elif res.get("devices"):
            raise PyruncError("linux.resources.devices: this host has no devices controller "
                              "and no cgroup v2 hierarchy to attach device rules to")
        else:
            log.warning("this host has no devices controller: the container's device access "
                        "is not restricted by a cgroup")
        resources.apply(res, dirs, warn=log.warning)
    except OSError as e:
        pl.undo()
        raise PyruncError(f"cgroup: {e.filename}: {e.strerror}")
    except BaseException:
        pl.undo()
        raise
    return pl


def _pid_dir(paths):
    for key in ("pids", "freezer", "memory", "unified"):
        if key in paths:
            return paths[key]
    return next(iter(paths.values()), None)


def pids(paths):
    """Every pid in the container's cgroup, its sub-cgroups included."""
    top = _pid_dir(paths)
    out = []
    if not top:
        return out
    for d, subdirs, _ in os.walk(top):
        try:
            with open(os.path.join(d, "cgroup.procs")) as f:
                out += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return out


def _freezer(paths):
    """("v1", freezer dir) or ("v2", cgroup dir) or (None, None)."""
    if paths.get("freezer"):
        return "v1", paths["freezer"]
    if paths.get("unified") and os.path.exists(os.path.join(paths["unified"], "cgroup.freeze")):
        return "v2", paths["unified"]
    return None, None


def freeze(paths, timeout=10.0):
    """Freeze every process of the container and wait until the kernel says frozen."""
    kind, d = _freezer(paths)
    if kind is None:
        raise PyruncError("cannot pause: this container has no freezer (freezer controller or "
                          "cgroup.freeze)")
    deadline = time.monotonic() + timeout
    while True:
        if kind == "v1":
            _write(os.path.join(d, "freezer.state"), "FROZEN")
            with open(os.path.join(d, "freezer.state")) as f:
                done = f.read().strip() == "FROZEN"
        else:
            _write(os.path.join(d, "cgroup.freeze"), "1")
            with open(os.path.join(d, "cgroup.events")) as f:
                done = "frozen 1" in f.read().splitlines()
        if done:
            return
        if time.monotonic() > deadline:
            unfreeze(paths)
            raise PyruncError("cannot pause: the container's processes did not freeze in time")
        time.sleep(0.001)


def unfreeze(paths):
    kind, d = _freezer(paths)
    if kind == "v1":
        _write(os.path.join(d, "freezer.state"), "THAWED")
    elif kind == "v2":
        _write(os.path.join(d, "cgroup.freeze"), "0")


def thaw(paths):
    """unfreeze, for cleanup paths: errors are ignored."""
    try:
        unfreeze(paths)
    except PyruncError:
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

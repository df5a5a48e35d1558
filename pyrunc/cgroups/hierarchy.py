"""The host's cgroup hierarchies (v1 controllers, named v1 hierarchies, the cgroup2 mount) and
where a container's cgroup lies in each, as runc's cgroupfs driver places it."""

import os

from ..config import clean
from ..mountinfo import unescape

V1_CONTROLLERS = ("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "net_cls",
                  "net_prio", "blkio", "perf_event", "hugetlb", "pids", "rdma", "misc")


class Hierarchy:
    __slots__ = ("key", "mountpoint", "mountroot", "version", "controllers")

    def __init__(self, key, mountpoint, mountroot, version, controllers):
        self.key, self.mountpoint, self.mountroot = key, mountpoint, mountroot
        self.version, self.controllers = version, controllers

    def __repr__(self):
        return f"Hierarchy({self.key!r}, {self.mountpoint!r}, v{self.version})"


def probe(mountinfo="/proc/self/mountinfo"):
    """The mounted cgroup hierarchies, first mount of each, keyed by controller or name
    ("unified" for the cgroup2 mount)."""
    found = {}
    with open(mountinfo) as f:
        for line in f:
            left, _, right = line.partition(" - ")
            rf = right.split()
            if len(rf) < 3 or rf[0] not in ("cgroup", "cgroup2"):
                continue
            lf = left.split()
            root, mnt = unescape(lf[3]), unescape(lf[4])
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


def paths_for(cgroups_path, cid, hs, own=None):
    """{hierarchy key: host directory} of the container's cgroup: an absolute cgroupsPath
    from each hierarchy's root; a relative one, or the id when there is none, under the
    caller's own cgroup in that hierarchy."""
    inner = cgroups_path if cgroups_path else cid
    out = {}
    if inner.startswith("/"):
        for h in hs:
            out[h.key] = h.mountpoint + clean(inner)
        return out
    own = own_cgroups() if own is None else own
    for h in hs:
        mine = own.get("" if h.version == 2 else h.key, "/")
        if h.mountroot != "/" and mine.startswith(h.mountroot):
            mine = mine[len(h.mountroot):] or "/"
        out[h.key] = h.mountpoint + clean(mine + "/" + inner)
    return out

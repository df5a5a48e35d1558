"""linux.resources → cgroup files, for whichever hierarchy holds each controller.

The file a field goes to depends on the version of the hierarchy its controller is mounted
in, not on the host as a whole: on a hybrid host (v1 controllers plus a cgroup2 mount) the
memory limit goes to memory.limit_in_bytes while a hugepage limit may go to the cgroup2
hierarchy's hugetlb.2MB.max.  docs/resources.md has the table.

`writes()` turns the resources into an ordered list of writes (reading the container's
cgroup where the order or the file depends on what is there, as runc does); `apply()` does
them.  Values are checked before anything is written, so that a bad request changes
nothing.  v1-only fields that cgroup v2 has no file for are ignored on v2 with a warning,
as runc ignores them; kernel memory limits are ignored everywhere with a warning, as runc
does (the kernel deprecated them); the TCP buffer limit (kernelTCP) is set on v1, as crun.
"""

import os

from ..errors import CgroupError, ConfigError
from ..fastjson import nonempty as _set
from ..fdutil import read_text as _read

V2_NAMES = {"io": "blkio"}  # v2 controller -> the name used here (the v1 name)
# cgroup v2 interface files that are not resources: writing them through linux.resources.unified
# would move processes into or out of the container's cgroup, kill or freeze it, or change
# which controllers its children get (pyrunc does each of those itself)
UNIFIED_REFUSED = frozenset(("cgroup.procs", "cgroup.threads", "cgroup.kill", "cgroup.freeze",
                             "cgroup.subtree_control", "cgroup.type"))


class Dirs:
    """controller name -> (directory, hierarchy version) of one container's cgroups."""

    def __init__(self, paths, hs):
        self.map = {}
        self.unified = None
        for h in hs:
            if h.key in paths and h.version == 1:
                for c in h.controllers:
                    self.map[c[5:] if c.startswith("name=") else c] = (paths[h.key], 1)
        for h in hs:
            if h.key in paths and h.version == 2:
                self.unified = paths[h.key]
                for c in h.controllers:
                    self.map.setdefault(V2_NAMES.get(c, c), (paths[h.key], 2))

    def get(self, ctrl):
        return self.map.get(ctrl)


class Write:
    __slots__ = ("ctrl", "file", "value", "field", "allow_missing")

    def __init__(self, ctrl, file, value, field, allow_missing=False):
        self.ctrl, self.file, self.value, self.field = ctrl, file, value, field
        self.allow_missing = allow_missing

    def __repr__(self):
        return f"{self.file}={self.value!r}"




def _num(v):
    """runc's numToStr: 0 is unset, -1 is "max"."""
    if v is None or v == 0:
        return ""
    return "max" if v == -1 else str(v)


def cpu_weight(shares):
    """cpu.shares → cpu.weight as runc converts it (a curve through 2→1, 1024→100, 262144→10000)."""
    import math
    if not shares:
        return 0
    if shares <= 2:
        return 1
    if shares >= 262144:
        return 10000
    lg = math.log2(shares)
    return int(math.ceil(10 ** ((lg * lg + 125 * lg) / 612.0 - 7.0 / 34.0)))


def io_weight(weight):
    """blkio weight [10, 1000] → io.weight [1, 10000], linearly, as runc."""
    return 0 if not weight else 1 + (weight - 10) * 9999 // 990


def swap_v2(swap, limit):
    """memory.swap in the spec is memory+swap; memory.swap.max is swap alone (as runc)."""
    if limit == -1 and swap == 0:
        return -1
    if swap in (-1, 0) or limit == -1:
        return swap
    if limit == 0:
        raise ConfigError("linux.resources.memory.swap: a swap limit needs a memory limit")
    if limit < 0:
        raise ConfigError(f"linux.resources.memory.limit: invalid value {limit}")
    if swap < limit:
        raise ConfigError("linux.resources.memory.swap: memory+swap must not be below the memory limit")
    return swap - limit


def hugepage_sizes():
    """The host's huge page sizes as cgroup file names use them ("2MB", "1GB")."""
    out = []
    try:
        names = os.listdir("/sys/kernel/mm/hugepages")
    except OSError:
        return out
    for n in names:
        kb = int(n[len("hugepages-"):-2])
        for unit, size in (("GB", 1 << 20), ("MB", 1 << 10), ("KB", 1)):
            if kb % size == 0:
                out.append(f"{kb // size}{unit}")
                break
    return out


class Planner:
    def __init__(self, dirs, warn):
        self.dirs = dirs
        self.out = []
        self.warn = warn

    def where(self, ctrl, field):
        d = self.dirs.get(ctrl)
        if d is None:
            raise CgroupError(f"linux.resources.{field}: there is no {ctrl} controller for this "
                              "container (not mounted on this host, or not enabled)")
        return d

    def exists(self, ctrl, file):
        return os.path.exists(os.path.join(self.dirs.get(ctrl)[0], file))

    def read(self, ctrl, file):
        return _read(os.path.join(self.dirs.get(ctrl)[0], file))

    def add(self, ctrl, file, value, field, allow_missing=False):
        self.out.append(Write(ctrl, file, str(value), field, allow_missing))

    def v1_only(self, field):
        self.warn(f"linux.resources.{field} has no cgroup v2 equivalent and is ignored (as runc does)")


def _memory(p, m, update):
    if not any(m.get(k) is not None for k in ("limit", "reservation", "swap", "swappiness",
                                               "disableOOMKiller", "kernel", "kernelTCP",
                                               "useHierarchy", "checkBeforeUpdate")):
        return
    if m.get("kernel"):  # 0: unset (Docker sends it on every create and update)
        p.warn("linux.resources.memory.kernel is ignored (kernel memory limits are deprecated; "
               "kernels since 6.0 accept memory.kmem.limit_in_bytes and do not enforce it; as runc)")
    if m.get("useHierarchy") is not None:
        p.warn("linux.resources.memory.useHierarchy is ignored (always on in current kernels)")
    limit = m.get("limit") or 0
    swap = m.get("swap") or 0
    res = m.get("reservation") or 0
    sw = m.get("swappiness")
    tcp = m.get("kernelTCP") or 0
    if not (limit or swap or res or tcp or (sw not in (None, -1)) or m.get("disableOOMKiller")
            or (update and m.get("checkBeforeUpdate"))):
        return
    where, version = p.where("memory", "memory")
    if update and m.get("checkBeforeUpdate") and limit > 0:
        cur = p.read("memory", "memory.usage_in_bytes" if version == 1 else "memory.current")
        if cur and cur.isdigit() and limit < int(cur):
            raise CgroupError(f"linux.resources.memory.limit: {limit} is below the container's "
                              f"current memory usage ({cur}); not updated (checkBeforeUpdate)")
    if version == 1:
        memsw = p.exists("memory", "memory.memsw.limit_in_bytes")
        if limit == -1 and swap == 0 and memsw:
            swap = -1
        if swap and not memsw:
            if swap != -1:
                raise CgroupError("linux.resources.memory.swap: swap accounting is not enabled on this "
                                  "host (no memory.memsw.limit_in_bytes)")
            swap = 0
        swap_first = False
        if limit and swap:
            cur = p.read("memory", "memory.limit_in_bytes")
            swap_first = swap == -1 or (cur is not None and cur.isdigit() and int(cur) < swap)
        writes = [("memory.limit_in_bytes", limit, "memory.limit"),
                  ("memory.memsw.limit_in_bytes", swap, "memory.swap")]
        for f, v, field in (reversed(writes) if swap_first else writes):
            if v:
                p.add("memory", f, v, field)
        if res:
            p.add("memory", "memory.soft_limit_in_bytes", res, "memory.reservation")
        if m.get("disableOOMKiller"):
            p.add("memory", "memory.oom_control", 1, "memory.disableOOMKiller")
        if sw is not None and sw != -1:
            p.add("memory", "memory.swappiness", sw, "memory.swappiness")
        if tcp:
            # TCP buffer memory is still limited by v1 kernels (crun sets it too)
            if p.exists("memory", "memory.kmem.tcp.limit_in_bytes"):
                p.add("memory", "memory.kmem.tcp.limit_in_bytes", tcp, "memory.kernelTCP")
            else:
                p.warn("linux.resources.memory.kernelTCP is ignored: this kernel has no "
                       "memory.kmem.tcp.limit_in_bytes")
        return
    if tcp:
        p.v1_only("memory.kernelTCP")
    s = swap_v2(swap, limit)
    text = _num(s)
    if text == "" and s == 0 and swap > 0:
        text = "0"  # memory and memory+swap equal: no swap
    if text:
        p.add("memory", "memory.swap.max", text, "memory.swap", allow_missing=text in ("max", "0"))
    if _num(limit):
        p.add("memory", "memory.max", _num(limit), "memory.limit")
    if _num(res):
        p.add("memory", "memory.low", _num(res), "memory.reservation")
    if sw is not None and sw != -1:
        p.v1_only("memory.swappiness")
    if m.get("disableOOMKiller"):
        p.v1_only("memory.disableOOMKiller")


def _cpu(p, c):
    rt = (c.get("realtimePeriod"), c.get("realtimeRuntime"))
    shares, quota, period = c.get("shares") or 0, c.get("quota") or 0, c.get("period") or 0
    burst, idle = c.get("burst"), c.get("idle")
    if shares or quota or period or burst is not None or idle is not None or any(rt):
        where, version = p.where("cpu", "cpu")
        if version == 1:
            if rt[0]:
                p.add("cpu", "cpu.rt_period_us", rt[0], "cpu.realtimePeriod")
            if rt[1]:
                p.add("cpu", "cpu.rt_runtime_us", rt[1], "cpu.realtimeRuntime")
            if shares:
                p.add("cpu", "cpu.shares", shares, "cpu.shares")
            if period:
                p.add("cpu", "cpu.cfs_period_us", period, "cpu.period")
            if quota:
                p.add("cpu", "cpu.cfs_quota_us", quota, "cpu.quota")
            if burst is not None:
                p.add("cpu", "cpu.cfs_burst_us", burst, "cpu.burst")
            if idle is not None:
                p.add("cpu", "cpu.idle", idle, "cpu.idle")
        else:
            if any(rt):
                p.v1_only("cpu.realtimePeriod/realtimeRuntime")
            if idle is not None:
                p.add("cpu", "cpu.idle", idle, "cpu.idle")
            if shares:
                p.add("cpu", "cpu.weight", cpu_weight(shares), "cpu.shares")
            if quota or period:
                text = (str(quota) if quota > 0 else "max") + " " + str(period or 100000)
                p.add("cpu", "cpu.max", text, "cpu.quota")
            if burst is not None:
                p.add("cpu", "cpu.max.burst", burst, "cpu.burst")
    for key, f in (("cpus", "cpuset.cpus"), ("mems", "cpuset.mems")):
        if c.get(key):
            p.where("cpuset", f"cpu.{key}")
            p.add("cpuset", f, c[key], f"cpu.{key}")


def _pids(p, pids):
    limit = pids.get("limit")
    if not limit:  # None or 0: unset, as runc (0 is what engines send for "no limit given")
        return
    p.where("pids", "pids.limit")
    p.add("pids", "pids.max", limit if limit > 0 else "max", "pids.limit")


THROTTLE = (("throttleReadBpsDevice", "read_bps_device", "rbps"),
            ("throttleWriteBpsDevice", "write_bps_device", "wbps"),
            ("throttleReadIOPSDevice", "read_iops_device", "riops"),
            ("throttleWriteIOPSDevice", "write_iops_device", "wiops"))


def _blkio(p, b):
    if not any(_set(v) for v in b.values()):
        return
    where, version = p.where("blkio", "blockIO")
    weight, leaf = b.get("weight"), b.get("leafWeight")
    wdev = b.get("weightDevice") or ()
    if version == 1:
        bfq = not p.exists("blkio", "blkio.weight") and p.exists("blkio", "blkio.bfq.weight")
        wfile = "blkio.bfq.weight" if bfq else "blkio.weight"
        if weight:
            if not p.exists("blkio", wfile):
                raise CgroupError("linux.resources.blockIO.weight: this host's block I/O controller has no "
                                  "weight file (blkio.weight or blkio.bfq.weight; is an I/O scheduler "
                                  "with weights in use?)")
            p.add("blkio", wfile, weight, "blockIO.weight")
        if leaf:
            p.add("blkio", "blkio.leaf_weight", leaf, "blockIO.leafWeight")
        for i, d in enumerate(wdev):
            dev = f"{d['major']}:{d['minor']}"
            if d.get("weight") is not None:
                p.add("blkio", wfile + "_device", f"{dev} {d['weight']}", f"blockIO.weightDevice[{i}]")
            if d.get("leafWeight") is not None:
                p.add("blkio", "blkio.leaf_weight_device", f"{dev} {d['leafWeight']}",
                      f"blockIO.weightDevice[{i}]")
        for key, f, _ in THROTTLE:
            for i, d in enumerate(b.get(key) or ()):
                p.add("blkio", "blkio.throttle." + f, f"{d['major']}:{d['minor']} {d['rate']}",
                      f"blockIO.{key}[{i}]")
        return
    bfq = p.exists("blkio", "io.bfq.weight")
    if weight:
        if bfq:
            p.add("blkio", "io.bfq.weight", weight, "blockIO.weight")
        else:
            p.add("blkio", "io.weight", io_weight(weight), "blockIO.weight")
    if leaf:
        p.v1_only("blockIO.leafWeight")
    for i, d in enumerate(wdev):
        if d.get("weight") is not None:
            if not bfq:
                raise CgroupError(f"linux.resources.blockIO.weightDevice[{i}]: per-device weights need the "
                                  "BFQ I/O scheduler on cgroup v2 (no io.bfq.weight)")
            p.add("blkio", "io.bfq.weight", f"{d['major']}:{d['minor']} {d['weight']}",
                  f"blockIO.weightDevice[{i}]")
        if d.get("leafWeight") is not None:
            p.v1_only(f"blockIO.weightDevice[{i}].leafWeight")
    for key, _, name in THROTTLE:
        for i, d in enumerate(b.get(key) or ()):
            p.add("blkio", "io.max", f"{d['major']}:{d['minor']} {name}={d['rate']}", f"blockIO.{key}[{i}]")


def _hugetlb(p, limits):
    if not limits:
        return
    where, version = p.where("hugetlb", "hugepageLimits")
    for i, h in enumerate(limits):
        size = h["pageSize"]  # one of the host's: check()
        names = (f"hugetlb.{size}.limit_in_bytes", f"hugetlb.{size}.rsvd.limit_in_bytes") if version == 1 \
            else (f"hugetlb.{size}.max", f"hugetlb.{size}.rsvd.max")
        p.add("hugetlb", names[0], h["limit"], f"hugepageLimits[{i}]")
        if p.exists("hugetlb", names[1]):
            p.add("hugetlb", names[1], h["limit"], f"hugepageLimits[{i}]")


def _network(p, n):
    if n.get("classID") is not None:
        p.where("net_cls", "network.classID")
        p.add("net_cls", "net_cls.classid", n["classID"], "network.classID")
    for i, prio in enumerate(n.get("priorities") or ()):
        p.where("net_prio", "network.priorities")
        p.add("net_prio", "net_prio.ifpriomap", f"{prio['name']} {prio['priority']}",
              f"network.priorities[{i}]")


def _rdma(p, rdma):
    for dev, lim in (rdma or {}).items():
        p.where("rdma", "rdma")
        parts = [dev]
        for key, name in (("hcaHandles", "hca_handle"), ("hcaObjects", "hca_object")):
            if lim.get(key) is not None:
                parts.append(f"{name}={lim[key]}")
        if len(parts) > 1:
            p.add("rdma", "rdma.max", " ".join(parts), f"rdma.{dev}")


def _unified(p, unified):
    if not unified:
        return
    if p.dirs.unified is None:
        raise CgroupError("linux.resources.unified: this host has no cgroup v2 hierarchy (cgroup v1 only)")
    for key, value in unified.items():
        ctrl = key.partition(".")[0]  # the key's form: check()
        if ctrl != "cgroup":
            d = p.dirs.get(V2_NAMES.get(ctrl, ctrl))
            if d is None or d[1] != 2:
                raise CgroupError(f"linux.resources.unified: {key!r}: controller {ctrl!r} is not "
                                  "available in this host's cgroup v2 hierarchy")
        p.out.append(Write("", key, str(value), f"unified.{key}"))




def check(res):
    """The checks that need no cgroup: run when config.json is loaded, before anything is made."""
    res = res or {}
    m = res.get("memory") or {}
    sw = m.get("swappiness")
    if sw is not None and sw != -1 and not 0 <= sw <= 100:
        raise ConfigError(f"linux.resources.memory.swappiness: invalid value {sw} (valid range is 0-100)")
    limit, swap = m.get("limit") or 0, m.get("swap") or 0
    if limit > 0 and swap > 0 and swap < limit:
        raise ConfigError("linux.resources.memory.swap: memory+swap must not be below the memory limit")
    b = res.get("blockIO") or {}
    for name in ("weight", "leafWeight"):
        v = b.get(name)
        if v is not None and v != 0 and not 10 <= v <= 1000:
            raise ConfigError(f"linux.resources.blockIO.{name}: {v} is out of range [10, 1000]")
    sizes = None
    for i, h in enumerate(res.get("hugepageLimits") or ()):
        sizes = hugepage_sizes() if sizes is None else sizes
        if h["pageSize"] not in sizes:
            raise ConfigError(f"linux.resources.hugepageLimits[{i}]: page size {h['pageSize']!r} is not one "
                              f"of this host's ({', '.join(sorted(sizes)) or 'none'})")
    for key in res.get("unified") or {}:
        if "/" in key or key in (".", ".."):
            raise ConfigError(f"linux.resources.unified: {key!r} must be a file name (no slashes)")
        if key in UNIFIED_REFUSED:
            raise ConfigError(f"linux.resources.unified: {key!r} is not a resource: it moves processes "
                              "or changes the cgroup's structure (pyrunc does that itself)")
        ctrl, dot, param = key.partition(".")
        if not dot or not ctrl or not param:
            raise ConfigError(f"linux.resources.unified: {key!r} must be in the form CONTROLLER.PARAMETER")
    from .devices import rules
    rules(res.get("devices"))


def v2_controllers(res):
    """The cgroup v2 controllers these resources need (enabled on a hybrid host on demand)."""
    res = res or {}
    need = set()
    if res.get("hugepageLimits"):
        need.add("hugetlb")
    for key in res.get("unified") or {}:
        ctrl = key.partition(".")[0]
        if ctrl != "cgroup":
            need.add(ctrl)
    return need


def writes(res, dirs, warn=None, update=False):
    """The ordered writes for linux.resources (devices excepted: see devices.py)."""
    p = Planner(dirs, warn or (lambda msg: None))
    res = res or {}
    check(res)  # values first (update's merged set has not been through load())
    _memory(p, res.get("memory") or {}, update)
    _cpu(p, res.get("cpu") or {})
    _pids(p, res.get("pids") or {})
    _blkio(p, res.get("blockIO") or {})
    _hugetlb(p, res.get("hugepageLimits"))
    _network(p, res.get("network") or {})
    _rdma(p, res.get("rdma"))
    _unified(p, res.get("unified"))
    return p.out


def write_all(writes, dirs):
    for w in writes:
        d = dirs.unified if w.ctrl == "" else dirs.get(w.ctrl)[0]
        path = os.path.join(d, w.file)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            if w.allow_missing:
                continue
            raise CgroupError(f"linux.resources.{w.field}: {path} does not exist on this host")
        except OSError as e:
            raise CgroupError(f"linux.resources.{w.field}: open {path}: {e.strerror}")
        try:
            os.write(fd, w.value.encode())
        except OSError as e:
            raise CgroupError(f"linux.resources.{w.field}: write {w.value!r} to {path}: {e.strerror}")
        finally:
            os.close(fd)


def apply(res, dirs, warn=None, update=False):
    write_all(writes(res, dirs, warn, update), dirs)

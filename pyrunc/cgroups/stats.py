"""Container statistics in runc's `events --stats` shape, read from the cgroup files.

Fields runc marks omitempty are left out when zero, so that the documents compare equal
with runc's for the same cgroup.
"""

import os

from .resources import Dirs, hugepage_sizes

MAX = (1 << 64) - 1


def _read(d, name):
    try:
        with open(os.path.join(d, name)) as f:
            return f.read()
    except OSError:
        return None


def _int(d, name):
    v = _read(d, name)
    if v is None:
        return 0
    v = v.strip()
    if v == "max":
        return MAX
    try:
        return int(v)
    except ValueError:
        return 0


def _kv(d, name):
    out = {}
    for line in (_read(d, name) or "").splitlines():
        f = line.split()
        if len(f) == 2:
            try:
                out[f[0]] = int(f[1])
            except ValueError:
                pass
    return out


def _nz(d):
    """Drop zero and empty values (runc's omitempty)."""
    return {k: v for k, v in d.items() if v not in (0, None, [], {}, "")}


def _cpu(dirs):
    usage, thr = {"kernel": 0, "user": 0}, {}
    c = dirs.get("cpu")
    a = dirs.get("cpuacct")
    if c and c[1] == 2:
        st = _kv(c[0], "cpu.stat")
        usage.update(total=st.get("usage_usec", 0) * 1000, kernel=st.get("system_usec", 0) * 1000,
                     user=st.get("user_usec", 0) * 1000)
        thr = {"periods": st.get("nr_periods", 0), "throttledPeriods": st.get("nr_throttled", 0),
               "throttledTime": st.get("throttled_usec", 0) * 1000}
    else:
        if a:
            d = a[0]
            usage["total"] = _int(d, "cpuacct.usage")
            usage["percpu"] = [int(x) for x in (_read(d, "cpuacct.usage_percpu") or "").split()]
            usage["percpu_kernel"] = [int(x) for x in (_read(d, "cpuacct.usage_percpu_sys") or "").split()]
            usage["percpu_user"] = [int(x) for x in (_read(d, "cpuacct.usage_percpu_user") or "").split()]
            st = _kv(d, "cpuacct.stat")
            hz = os.sysconf("SC_CLK_TCK")
            usage["kernel"] = st.get("system", 0) * 1000000000 // hz
            usage["user"] = st.get("user", 0) * 1000000000 // hz
        if c:
            st = _kv(c[0], "cpu.stat")
            thr = {"periods": st.get("nr_periods", 0), "throttledPeriods": st.get("nr_throttled", 0),
                   "throttledTime": st.get("throttled_time", 0)}
    out = {}
    u = {k: v for k, v in usage.items() if k in ("kernel", "user") or v}
    if any(u.values()):
        out["usage"] = u
    if any(thr.values()):
        out["throttling"] = _nz(thr)
    return out


def _ranges(text):
    out = []
    for part in (text or "").strip().split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        out += range(int(lo), int(hi or lo) + 1)
    return out


def _cpuset(dirs):
    c = dirs.get("cpuset")
    if not c:
        return {}
    d, v = c
    if v == 2:
        return _nz({"cpus": _ranges(_read(d, "cpuset.cpus.effective")),
                    "mems": _ranges(_read(d, "cpuset.mems.effective"))})
    out = {"cpus": _ranges(_read(d, "cpuset.cpus")), "mems": _ranges(_read(d, "cpuset.mems"))}
    out = _nz(out)
    for key, f in (("cpu_exclusive", "cpuset.cpu_exclusive"), ("mem_hardwall", "cpuset.mem_hardwall"),
                   ("mem_exclusive", "cpuset.mem_exclusive"), ("memory_migrate", "cpuset.memory_migrate"),
                   ("memory_spread_page", "cpuset.memory_spread_page"),
                   ("memory_spread_slab", "cpuset.memory_spread_slab"),
                   ("memory_pressure", "cpuset.memory_pressure"),
                   ("sched_load_balance", "cpuset.sched_load_balance"),
                   ("sched_relax_domain_level", "cpuset.sched_relax_domain_level")):
        out[key] = _int(d, f)
    return out


def _entry(limit, usage=0, mx=0, failcnt=0):
    e = {"limit": limit}
    if usage:
        e["usage"] = usage
    if mx:
        e["max"] = mx
    e["failcnt"] = failcnt
    return e


def _memory(dirs):
    m = dirs.get("memory")
    if not m:
        return {}
    d, v = m
    raw = _kv(d, "memory.stat")
    out = {}
    if v == 1:
        out["cache"] = raw.get("total_cache", raw.get("cache", 0))
        for key, pre in (("usage", "memory."), ("swap", "memory.memsw."), ("kernel", "memory.kmem."),
                         ("kernelTCP", "memory.kmem.tcp.")):
            if _read(d, pre + "limit_in_bytes") is None:
                continue
            out[key] = _entry(_int(d, pre + "limit_in_bytes"), _int(d, pre + "usage_in_bytes"),
                              _int(d, pre + "max_usage_in_bytes"), _int(d, pre + "failcnt"))
    else:
        out["cache"] = raw.get("file", 0)
        events = _kv(d, "memory.events")
        cur = _int(d, "memory.current")
        out["usage"] = _entry(_int(d, "memory.max"), cur, _int(d, "memory.peak"), events.get("max", 0))
        if _read(d, "memory.swap.current") is not None:
            # as runc: swap is reported as memory+swap, like v1's memsw
            out["swap"] = _entry(_int(d, "memory.swap.max"), _int(d, "memory.swap.current") + cur,
                                 _int(d, "memory.swap.peak"), _kv(d, "memory.swap.events").get("max", 0))
    out["raw"] = raw
    return _nz(out)


def _pids(dirs):
    p = dirs.get("pids")
    if not p:
        return {}
    lim = _int(p[0], "pids.max")
    return _nz({"current": _int(p[0], "pids.current"), "limit": 0 if lim == MAX else lim})


def _blkio(dirs):
    b = dirs.get("blkio")
    if not b:
        return {}
    d, v = b
    out = {}
    if v == 1:
        for key, f in (("ioServiceBytesRecursive", "blkio.throttle.io_service_bytes_recursive"),
                       ("ioServicedRecursive", "blkio.throttle.io_serviced_recursive")):
            rows = []
            for line in (_read(d, f) or "").splitlines():
                x = line.split()
                if len(x) == 3 and ":" in x[0]:
                    ma, mi = x[0].split(":")
                    rows.append(_nz({"major": int(ma), "minor": int(mi), "op": x[1], "value": int(x[2])}))
            if rows:
                out[key] = rows
        return out
    sb, sd = [], []
    for line in (_read(d, "io.stat") or "").splitlines():
        x = line.split()
        if not x or ":" not in x[0]:
            continue
        ma, mi = (int(n) for n in x[0].split(":"))
        kv = dict(p.split("=", 1) for p in x[1:] if "=" in p)
        for rows, rk, wk in ((sb, "rbytes", "wbytes"), (sd, "rios", "wios")):
            r, w = int(kv.get(rk, 0)), int(kv.get(wk, 0))
            rows.append(_nz({"major": ma, "minor": mi, "op": "Read", "value": r}))
            rows.append(_nz({"major": ma, "minor": mi, "op": "Write", "value": w}))
            rows.append(_nz({"major": ma, "minor": mi, "op": "Total", "value": r + w}))
    if sb:
        out["ioServiceBytesRecursive"] = sb
        out["ioServicedRecursive"] = sd
    return out


def _hugetlb(dirs):
    h = dirs.get("hugetlb")
    out = {}
    if not h:
        return out
    d, v = h
    for size in hugepage_sizes():
        if v == 1:
            e = {"usage": _int(d, f"hugetlb.{size}.usage_in_bytes"),
                 "max": _int(d, f"hugetlb.{size}.max_usage_in_bytes"),
                 "failcnt": _int(d, f"hugetlb.{size}.failcnt")}
        else:
            if _read(d, f"hugetlb.{size}.current") is None:
                continue
            e = {"usage": _int(d, f"hugetlb.{size}.current"),
                 "failcnt": _kv(d, f"hugetlb.{size}.events").get("max", 0)}
        out[size] = {k: val for k, val in e.items() if k == "failcnt" or val}
    return out


def stats(paths, hs):
    dirs = Dirs(paths, hs)
    return {"cpu": _cpu(dirs), "cpuset": _cpuset(dirs), "memory": _memory(dirs), "pids": _pids(dirs),
            "blkio": _blkio(dirs), "hugetlb": _hugetlb(dirs), "intel_rdt": {},
            "network_interfaces": None}


def oom_kills(paths, hs):
    """The number of OOM kills in the container's memory cgroup so far."""
    m = Dirs(paths, hs).get("memory")
    if not m:
        return 0
    if m[1] == 1:
        return _kv(m[0], "memory.oom_control").get("oom_kill", 0)
    return _kv(m[0], "memory.events").get("oom_kill", 0)

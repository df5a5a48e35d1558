"""update: change a running container's resources, as runc update does.

The request (--resources FILE, --resources - for JSON on stdin as containerd sends it, or the
individual flags) is merged into the resources saved at create and by earlier updates; the
merged set is checked as a whole and written.  If a write fails, the previous set is written
back and the saved state is left unchanged: a request applies entirely or not at all, as far
as the kernel lets a set of cgroup files be.  Device rules are not updated (as runc).
"""

import os
import sys

from .. import cgroups, resources
from ..errors import PyruncError
from ..log import log
from ..state import Container

RAM_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def ram_bytes(text, flag):
    """runc's units.RAMInBytes: "512m", "1g", "1.5GiB", "1024" (binary units)."""
    if text == "-1":
        return -1
    s = text.strip().lower()
    for suffix in ("ib", "b"):
        if s.endswith(suffix) and len(s) > len(suffix) and not s[-len(suffix) - 1].isspace():
            s = s[:-len(suffix)]
            break
    unit = s[-1] if s and s[-1] in "kmgtp" else ""
    num = s[:-1].rstrip() if unit else s
    try:
        v = float(num)
    except ValueError:
        raise PyruncError(f"invalid value for {flag}: {text!r} (want bytes, or a number with k, m, g, t, p)")
    if v < 0:
        raise PyruncError(f"invalid value for {flag}: {text!r} must not be negative (except -1)")
    return int(v * RAM_UNITS[unit])


def _int(text, flag, signed=False):
    try:
        v = int(text, 10)
    except ValueError:
        raise PyruncError(f"invalid value for {flag}: {text!r} is not a number")
    if v < 0 and not signed:
        raise PyruncError(f"invalid value for {flag}: {text!r} must not be negative")
    return v


def request_from_flags(a):
    r = {"memory": {}, "cpu": {}, "blockIO": {}, "pids": {}}
    if a.blkio_weight:
        r["blockIO"]["weight"] = _int(a.blkio_weight, "blkio-weight")
    if a.cpuset_cpus:
        r["cpu"]["cpus"] = a.cpuset_cpus
    if a.cpuset_mems:
        r["cpu"]["mems"] = a.cpuset_mems
    if a.cpu_idle is not None:
        r["cpu"]["idle"] = _int(a.cpu_idle, "cpu-idle", signed=True)
    for flag, key in (("cpu_burst", "burst"), ("cpu_period", "period"), ("cpu_rt_period", "realtimePeriod"),
                      ("cpu_share", "shares")):
        if getattr(a, flag) is not None:
            r["cpu"][key] = _int(getattr(a, flag), flag.replace("_", "-"))
    for flag, key in (("cpu_quota", "quota"), ("cpu_rt_runtime", "realtimeRuntime")):
        if getattr(a, flag) is not None:
            r["cpu"][key] = _int(getattr(a, flag), flag.replace("_", "-"), signed=True)
    for flag, key in (("memory", "limit"), ("memory_swap", "swap"), ("kernel_memory", "kernel"),
                      ("kernel_memory_tcp", "kernelTCP"), ("memory_reservation", "reservation")):
        if getattr(a, flag) is not None:
            r["memory"][key] = ram_bytes(getattr(a, flag), flag.replace("_", "-"))
    if a.pids_limit is not None:
        r["pids"]["limit"] = _int(a.pids_limit, "pids-limit", signed=True)
    if a.l3_cache_schema or a.mem_bw_schema:
        raise PyruncError("Intel RDT is not supported by pyrunc (--l3-cache-schema, --mem-bw-schema)")
    return r


def request_from_json(src):
    from .. import fastjson
    from ..schema import load_schema, validate
    try:
        if src == "-":
            raw = sys.stdin.buffer.read()
        else:
            with open(src, "rb") as f:
                raw = f.read()
    except OSError as e:
        raise PyruncError(f"--resources {src}: {e.strerror}")
    try:
        r = fastjson.loads(raw)
    except ValueError as e:
        raise PyruncError(f"--resources: not valid JSON: {e}")
    if not isinstance(r, dict):
        raise PyruncError("--resources: want a JSON object (linux.resources of config.json)")
    schema = load_schema("config-schema.json")
    sub = schema["properties"]["linux"]["properties"]["resources"]
    try:
        validate(r, sub, root=schema, path="resources")
    except PyruncError as e:
        raise PyruncError("--resources: " + str(e).replace("config.json: ", "", 1))
    return r


def _upsert(old, new):
    out = [dict(d) for d in old or ()]
    for d in new:
        for o in out:
            if o.get("major") == d.get("major") and o.get("minor") == d.get("minor"):
                o.update(d)
                break
        else:
            out.append(dict(d))
    return out


DEVICE_LISTS = ("weightDevice", "throttleReadBpsDevice", "throttleWriteBpsDevice",
                "throttleReadIOPSDevice", "throttleWriteIOPSDevice")


def merge(old, req):
    """The resources after the request: scalars replace, per-device lists are upserted by
    major:minor, maps (rdma, unified) are merged key by key."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in (old or {}).items()}
    for key, value in req.items():
        if key == "devices":
            if value:
                log.warning("linux.resources.devices cannot be changed by update; ignored (as runc)")
            continue
        if key == "hugepageLimits":
            byp = {h["pageSize"]: dict(h) for h in out.get(key) or ()}
            for h in value or ():
                byp[h["pageSize"]] = dict(h)
            out[key] = list(byp.values())
            continue
        if not isinstance(value, dict):
            out[key] = value
            continue
        cur = dict(out.get(key) or {})
        for k, v in value.items():
            if k in DEVICE_LISTS:
                cur[k] = _upsert(cur.get(k), v or ())
            elif isinstance(v, dict) and isinstance(cur.get(k), dict):
                cur[k] = dict(cur[k], **v)
            elif k == "priorities":
                byn = {p["name"]: p for p in cur.get(k) or ()}
                byn.update({p["name"]: p for p in v or ()})
                cur[k] = list(byn.values())
            else:
                cur[k] = v
        out[key] = cur
    return out


def main(a):
    c = Container.load(a.root, a.id, lock=True)
    if c.status() == "stopped":
        raise PyruncError(f"cannot update a stopped container: {a.id}")
    req = request_from_json(a.resources) if a.resources else request_from_flags(a)
    mem = req.get("memory") or {}
    if mem.get("limit") == -1 and "swap" not in mem:
        req["memory"] = dict(mem, swap=0)  # unlimited memory, unlimited swap (as runc)
    old = c.data.get("resources") or {}
    new = merge(old, req)
    paths = c.cgroup_paths("update")
    hs = cgroups.probe()
    dirs = resources.Dirs({k: v for k, v in paths.items() if os.path.isdir(v)}, hs)
    body = {k: v for k, v in new.items() if k != "devices"}
    writes = resources.plan(body, dirs, warn=log.warning, update=True)
    try:
        resources.write_all(writes, dirs)
    except PyruncError:
        try:
            resources.apply({k: v for k, v in old.items() if k != "devices"}, dirs)
        except PyruncError as e:
            log.warning(f"update failed and the previous resources could not be restored: {e}")
        raise
    c.data["resources"] = new
    c.save()

"""update: change a running container's resources, as runc update does.

The request is merged into the resources saved at create and by earlier updates; the merged
set is checked as a whole and written by the container's cgroup manager, which writes the
previous set back if a write fails: a request applies entirely or not at all.  Device rules
are not updated (as runc).
"""

from ..errors import StateError
from ..log import log

DEVICE_LISTS = ("weightDevice", "throttleReadBpsDevice", "throttleWriteBpsDevice",
                "throttleReadIOPSDevice", "throttleWriteIOPSDevice")


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


def update(c, req):
    """Apply the resources request req (a linux.resources document) to container c (locked)."""
    if c.status() == "stopped":
        raise StateError(f"cannot update a stopped container: {c.id}")
    mem = req.get("memory") or {}
    if mem.get("limit") == -1 and "swap" not in mem:
        req["memory"] = dict(mem, swap=0)  # unlimited memory, unlimited swap (as runc)
    old = c.data.get("resources") or {}
    new = merge(old, req)
    c.cgroup.require("update", c.id)
    c.cgroup.update(old, new)
    c.data["resources"] = new
    c.save()

"""update: the request (--resources FILE, --resources - for JSON on stdin as containerd sends
it, or the individual flags) given to ops/update.py, which merges and applies it."""

import sys

from ..errors import ConfigError, StateError, UsageError
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
        raise UsageError(f"invalid value for {flag}: {text!r} (want bytes, or a number with k, m, g, t, p)")
    if v < 0:
        raise UsageError(f"invalid value for {flag}: {text!r} must not be negative (except -1)")
    return int(v * RAM_UNITS[unit])


def _int(text, flag, signed=False):
    try:
        v = int(text, 10)
    except ValueError:
        raise UsageError(f"invalid value for {flag}: {text!r} is not a number")
    if v < 0 and not signed:
        raise UsageError(f"invalid value for {flag}: {text!r} must not be negative")
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
    return r


MAX_REQUEST = 1 << 20


def request_from_json(src):
    from ..config import parse_json, read_document
    if src == "-":
        raw = sys.stdin.buffer.read(MAX_REQUEST + 1)
        if len(raw) > MAX_REQUEST:
            raise ConfigError(f"too large (more than {MAX_REQUEST} bytes)", source="--resources")
    else:
        raw = read_document(src, src, limit=MAX_REQUEST,
                            error=lambda msg: ConfigError(msg, source="--resources"))
    return validate_request(parse_json(raw, "--resources"))


def validate_request(r):
    """r (linux.resources of config.json, as a dict) checked against the schema."""
    from ..schema import load_schema, validate
    if not isinstance(r, dict):
        raise ConfigError("want a JSON object (linux.resources of config.json)", source="--resources")
    schema = load_schema("config-schema.json")
    sub = schema["properties"]["linux"]["properties"]["resources"]
    try:
        validate(r, sub, root=schema, path="resources")
    except ConfigError as e:
        e.source = "--resources"
        raise
    return r


def main(a):
    from ..ops.update import update
    c = Container.load(a.root, a.id, lock=True)
    with c.locked():
        if c.status() == "stopped":
            raise StateError(f"cannot update a stopped container: {a.id}")
        req = request_from_json(a.resources) if a.resources else request_from_flags(a)
        rdt = None
        if a.l3_cache_schema or a.mem_bw_schema:
            # (as runc: checked first, written after the cgroup resources)
            from .. import intelrdt
            rdt = intelrdt.update_lines(c.data.get("intel_rdt"), a.l3_cache_schema, a.mem_bw_schema)
        update(c, req)
        if rdt:
            intelrdt.write_lines(c.data["intel_rdt"], rdt)

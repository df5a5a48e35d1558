"""events: container statistics (--stats: one document) or a stream of stats and OOM events.

The stream prints a stats event every --interval and an {"type":"oom"} event as soon as the
kernel reports an OOM kill in the container's memory cgroup (checked ten times a second);
it ends when the container stops.
"""

import sys
import time

from ..errors import PyruncError
from ..fastjson import dumps
from ..state import Container

UNITS = (("ns", 1e-9), ("us", 1e-6), ("µs", 1e-6), ("ms", 1e-3), ("s", 1.0), ("m", 60.0), ("h", 3600.0))


def duration(text):
    """A Go duration ("5s", "250ms", "1m30s") in seconds."""
    s, total = text.strip(), 0.0
    if s in ("0", ""):
        raise PyruncError(f"invalid --interval {text!r}: must be positive")
    while s:
        i = 0
        while i < len(s) and (s[i].isdigit() or s[i] == "."):
            i += 1
        num, s = s[:i], s[i:]
        for unit, mult in sorted(UNITS, key=lambda u: -len(u[0])):  # noqa: B007 (used after the loop)
            if s.startswith(unit):
                break
        else:
            raise PyruncError(f"invalid --interval {text!r} (want a duration such as 5s or 500ms)")
        try:
            total += float(num) * mult
        except ValueError:
            raise PyruncError(f"invalid --interval {text!r} (want a duration such as 5s or 500ms)")
        s = s[len(unit):]
    if total <= 0:
        raise PyruncError(f"invalid --interval {text!r}: must be positive")
    return total


def _emit(kind, cid, data=None):
    ev = {"type": kind, "id": cid}
    if data is not None:
        ev["data"] = data
    sys.stdout.write(dumps(ev) + "\n")
    sys.stdout.flush()


def main(a):
    import gc
    gc.enable()  # a stream lasts as long as the container (cli.entry turned it off)
    interval = duration(a.interval or "5s")
    c = Container.load(a.root, a.id)
    if c.status() == "stopped":
        raise PyruncError(f"container {a.id} is not running")
    mgr = c.cgroup
    mgr.require("events", c.id)
    if a.stats:
        _emit("stats", a.id, mgr.stats())
        return
    ooms = mgr.oom_kills()
    next_stats = time.monotonic()
    while c.init_alive():
        now = time.monotonic()
        n = mgr.oom_kills()
        if n > ooms:
            ooms = n
            _emit("oom", a.id)
        if now >= next_stats:
            _emit("stats", a.id, mgr.stats())
            next_stats = now + interval
        time.sleep(min(0.1, max(0.0, next_stats - time.monotonic())))
    n = mgr.oom_kills()
    if n > ooms:
        _emit("oom", a.id)

"""ps: the container's processes, as runc prints them (json: the list of host pids)."""

import sys

from ..errors import PyruncError
from ..fastjson import dumps
from ..state import Container


def main(a):
    fmt = a.format or "table"
    if fmt not in ("table", "json"):
        raise PyruncError(f"invalid format option: {fmt} (want table or json)")
    c = Container.load(a.root, a.id)
    c.cgroup.require("ps", c.id)
    pids = c.cgroup.pids() if c.status() != "stopped" else []
    if fmt == "json":
        sys.stdout.write(dumps(pids) + "\n")
        return
    import subprocess
    args = a.args or ["-ef"]
    try:
        p = subprocess.run(["ps", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    except FileNotFoundError:
        raise PyruncError("ps: the ps program is not installed")
    out = p.stdout.decode(errors="replace")
    if p.returncode != 0:
        raise PyruncError(f"ps {' '.join(args)}: exit status {p.returncode}: {out.strip()}")
    lines = out.split("\n")
    titles = lines[0].split()
    if "PID" not in titles:
        raise PyruncError("couldn't find PID field in ps output")
    col = titles.index("PID")
    want = set(pids)
    res = [lines[0]]
    for line in lines[1:]:
        f = line.split()
        if not f:
            continue
        try:
            pid = int(f[col])
        except (ValueError, IndexError):
            raise PyruncError(f"unable to parse pid in ps output: {line!r}")
        if pid in want:
            res.append(line)
    sys.stdout.write("\n".join(res) + "\n")

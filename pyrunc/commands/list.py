import os
import sys

from ..errors import PyruncError
from ..fastjson import dumps
from ..state import Container, list_ids


def _owner(path):
    import pwd
    uid = os.stat(path).st_uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"#{uid}"


def main(a):
    fmt = a.format or "table"
    if fmt not in ("table", "json"):
        raise PyruncError(f"invalid format option: {fmt} (want table or json)")
    states = []
    for cid in list_ids(a.root):
        try:
            c = Container.load(a.root, cid)
        except PyruncError:
            continue
        s = c.oci_state()
        s["owner"] = _owner(c.dir)
        states.append(s)
    if a.quiet:
        sys.stdout.write("".join(s["id"] + "\n" for s in states))
        return
    if fmt == "json":
        sys.stdout.write(dumps(states) + "\n")
        return
    rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
    rows += [(s["id"], str(s["pid"]), s["status"], s["bundle"], s["created"], s["owner"]) for s in states]
    widths = [max(12, max(len(r[i]) for r in rows) + 3) for i in range(5)]
    for r in rows:
        sys.stdout.write("".join(v.ljust(w) for v, w in zip(r, widths)) + r[5] + "\n")

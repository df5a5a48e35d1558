"""The record pyrunc-front acts from: Python decides, the front executes.

pyrunc-front (csrc/pyrunc-front.c) answers `state`, `kill`, `start` and `delete` of an
existing container without starting Python.  It parses no JSON and knows no cgroup layout,
no hooks and no manager: at every state change Python writes `<root>/<id>/front`, a small
text record of what those four calls need, in this fixed format (one item per line):

    pyrunc-front 1
    pid <init pid>
    starttime <its start time, field 22 of /proc/<pid>/stat>
    python <commands the front must hand to Python, comma separated, or ->
    freezer file <the file it reads for `paused` and writes to thaw>, or freezer - -
    thaw <value that thaws, or ->
    frozen <the first letter of a frozen state, or ->
    piddir <the cgroup directory whose processes (and its sub-cgroups') delete kills, or ->
    leaf <a directory of the container's own: its sub-cgroups go first, it is retried>   (any number)
    rmdir <a directory to remove, in order, deepest first>                                 (any number)
    unlink <a file of the state directory to remove before the directory>                  (any number)
    state <head length> <middle length> <tail length>
    <head><middle><tail>

and `state` prints head, the pid (0 once stopped), middle, the status and tail: the document
that `pyrunc state` prints, rendered here by Python's own encoder, so both paths print the
same bytes.  A value that cannot be written on one line makes the record say `python all`.
"""

VERSION = 1


def _line(key, value):
    value = str(value)
    if "\n" in value or "\r" in value:
        raise ValueError(value)
    return f"{key} {value}\n"


def record(c):
    """The front record of container c (a state.Container, its data as just saved)."""
    d = c.data
    python = set(d.get("front_python") or ())
    hooks = (d.get("config") or {}).get("hooks") or {}
    if hooks.get("poststart"):
        python.add("start")
    from .state import private_pid_ns
    if not private_pid_ns(d):
        python.add("kill")  # SIGKILL reaches the whole cgroup: ops/kill.py
    if hooks.get("poststop") or d.get("shared_mounts") or d.get("intel_rdt"):
        python.add("delete")
    mgr = c.cgroup
    info = mgr.front() if mgr.kind == "fs" else None
    if info is None:
        python.add("delete")
        info = {"pid_dir": None, "remove": [], "leaves": ()}
    if not d.get("pid"):
        python.add("all")
    fz = (d.get("cgroup") or {}).get("freezer")
    try:
        lines = [f"pyrunc-front {VERSION}\n",
                 _line("pid", int(d.get("pid") or 0)),
                 _line("starttime", int(d.get("starttime") or 0)),
                 _line("python", ",".join(sorted(python)) or "-")]
        if fz:
            # the front compares the first letter: FROZEN and FREEZING (v1), 1 (v2)
            lines += [_line("freezer", f"file {fz['file']}"), _line("thaw", fz["thaw"]),
                      _line("frozen", fz["frozen"][0][0])]
        else:
            lines += ["freezer - -\n", "thaw -\n", "frozen -\n"]
        lines.append(_line("piddir", info["pid_dir"] or "-"))
        for leaf in sorted(info["leaves"]):
            lines.append(_line("leaf", leaf))
        for path in info["remove"]:
            lines.append(_line("rmdir", path))
        for name in c.FILES:
            lines.append(_line("unlink", name))
        head, middle, tail = _state_parts(c)
        lines.append(f"state {len(head)} {len(middle)} {len(tail)}\n")
        return "".join(lines).encode() + head + middle + tail
    except ValueError:
        return f"pyrunc-front {VERSION}\npython all\n".encode()


def _state_parts(c):
    """`pyrunc state`'s document cut around the pid and the status."""
    text = c.render_state("running").encode()
    pid_key = b'"pid": '
    status_key = b',\n  "status": "'
    i = text.index(pid_key) + len(pid_key)
    j = text.index(status_key, i)
    k = text.index(b'"', j + len(status_key))
    return text[:i], text[j:j + len(status_key)], text[k:]

"""/proc/self/mountinfo: its escaped fields, and the mounts below a path."""

import os


def unescape(field):
    """A mountinfo field with its octal escapes (\\040 for a space, ...) decoded."""
    if "\\" not in field:
        return field
    out, i, n = [], 0, len(field)
    while i < n:
        c = field[i]
        if c == "\\" and i + 4 <= n and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
            continue
        out.append(c)
        i += 1
    return "".join(out)


def under(path, mountinfo="/proc/self/mountinfo"):
    """{mount id: mount point} of the mounts at or below path, in this mount namespace."""
    root = os.path.realpath(path)
    out = {}
    with open(mountinfo) as f:
        for line in f:
            fields = line.split(" ", 5)
            mp = unescape(fields[4])
            if mp == root or mp.startswith(root + "/"):
                out[int(fields[0])] = mp
    return out


def entries(mountinfo="/proc/self/mountinfo"):
    """(root, mount point, filesystem type) of each mount of a mountinfo file, unescaped."""
    with open(mountinfo) as f:
        for line in f:
            fields, _, after = line.partition(" - ")
            parts = fields.split(" ")
            yield unescape(parts[3]), unescape(parts[4]), after.split(" ", 1)[0]

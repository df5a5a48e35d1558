"""linux.intelRdt: the container's Intel RDT group in the resctrl filesystem (runtime-spec
1.3's rules; runc's behaviour where the spec leaves room).

- The group is `<resctrl>/<closID>`, or `<resctrl>/<container id>` without closID; closID
  "/" is the default group, resctrl's root.
- Without schemata (l3CacheSchema, memBwSchema, schemata lines) a closID must name an
  existing group, which the container joins. With them, a missing group is made and the
  lines written (l3CacheSchema, then memBwSchema, then schemata, one line each); an existing
  group must already hold those values, else an error (the spec; runc writes over it).
- The init's pid goes to the group's `tasks`; with enableMonitoring also to a MON group
  `mon_groups/<container id>` made for it.
- delete removes the group only if pyrunc made it and there was no closID, else the MON
  group only.  A host without a mounted resctrl gets an error, as the spec requires.

Everything takes the resctrl root as an argument, so tests/test_intelrdt.py runs it on a
directory tree standing in for resctrl (this machine's CPUs have no RDT, so none can be
mounted here).
"""

import os

from .errors import ConfigError, PyruncError

FIELD = "linux.intelRdt"
# making and removing a group (the kernel makes its files and, at removal, moves its tasks
# to the parent): module names, so that the tests' stand-in tree can do the kernel's part
mkdir = os.mkdir
rmdir = os.rmdir
# cache-allocation bitmasks are hexadecimal in the schemata file; MB (bandwidth) decimal
DECIMAL = ("MB",)


def root():
    """The mount point of the resctrl filesystem in the runtime's mount namespace, or None."""
    from .mountinfo import entries
    try:
        for _, mp, fstype in entries():
            if fstype == "resctrl":
                return mp
    except OSError:
        pass
    return None


class Plan:
    """What create does for a config's intelRdt."""
    __slots__ = ("root", "group", "lines", "must_exist", "mon", "own_name")

    def __init__(self, root, group, lines, must_exist, mon, own_name):
        self.root, self.group, self.lines = root, group, lines
        self.must_exist, self.mon, self.own_name = must_exist, mon, own_name


def plan(doc, cid, rdt_root):
    """The Plan for intelRdt `doc` of container cid, checked against the host's resctrl
    at rdt_root (None: none mounted)."""
    if not isinstance(doc, dict):
        raise ConfigError("want an object", field=FIELD, source="config.json")
    if rdt_root is None:
        raise ConfigError("is set, but Intel RDT is not enabled on this host (no resctrl filesystem is mounted)",
                          field=FIELD, source="config.json", subject=True)
    for old in ("enableCMT", "enableMBM"):
        if doc.get(old):
            raise ConfigError(f"{old} was replaced by enableMonitoring (runtime-spec 1.3)", field=FIELD,
                              source="config.json")
    clos = doc.get("closID") or ""
    if not isinstance(clos, str) or clos in (".", "..") or (len(clos) > 1 and "/" in clos):
        raise ConfigError(f"invalid closID {clos!r}", field=FIELD, source="config.json")
    lines = []
    for key, prefix in (("l3CacheSchema", "L3"), ("memBwSchema", "MB")):
        v = doc.get(key) or ""
        if not v:
            continue
        if "\n" in v:
            raise ConfigError("must not contain newlines", field=f"{FIELD}.{key}", source="config.json", subject=True)
        info = "L3" if prefix == "L3" else "MB"
        if not os.path.isdir(os.path.join(rdt_root, "info", info)):
            what = "CAT" if prefix == "L3" else "MBA"
            raise ConfigError(f"is set, but Intel RDT/{what} is not enabled on this host", field=f"{FIELD}.{key}",
                              source="config.json", subject=True)
        lines.append(v)
    for i, v in enumerate(doc.get("schemata") or ()):
        if not isinstance(v, str) or "\n" in v:
            raise ConfigError("must be a line (no newline)", field=f"{FIELD}.schemata[{i}]", source="config.json",
                              subject=True)
        if v:
            lines.append(v)
    if clos == "/":
        group = rdt_root
    else:
        group = os.path.join(rdt_root, clos or cid)
    mon = None
    if doc.get("enableMonitoring"):
        if not os.path.isdir(os.path.join(rdt_root, "info", "L3_MON")):
            raise ConfigError("enableMonitoring is set, but resctrl monitoring is not enabled on this host",
                              field=FIELD, source="config.json")
        mon = os.path.join(group, "mon_groups", cid)
    return Plan(rdt_root, group, lines, bool(clos) and not lines, mon, not clos)


def parse_schemata(text):
    """{resource: {cache id: value}} of schemata lines ("L3:0=ff;1=f0", "MB:0=70")."""
    out = {}
    for line in text.splitlines():
        res, sep, rest = line.strip().partition(":")
        if not sep:
            continue
        res = res.strip()
        base = 10 if res in DECIMAL else 16
        vals = out.setdefault(res, {})
        for item in rest.split(";"):
            dom, eq, val = item.strip().partition("=")
            if not eq:
                continue
            try:
                vals[int(dom)] = int(val.strip(), base)
            except ValueError:
                vals[dom.strip()] = val.strip()
    return out


def mismatches(wanted_lines, current_text):
    """The values of wanted_lines that the current schemata file does not hold."""
    have = parse_schemata(current_text)
    out = []
    for res, vals in parse_schemata("\n".join(wanted_lines)).items():
        for dom, v in vals.items():
            if have.get(res, {}).get(dom) != v:
                out.append(f"{res}:{dom}")
    return out


def _last_cmd(rdt_root):
    try:
        with open(os.path.join(rdt_root, "info", "last_cmd_status")) as f:
            return f.read().strip()
    except OSError:
        return ""


def _error(rdt_root, what, e):
    status = _last_cmd(rdt_root)
    text = f"{FIELD}: {what}: {os.strerror(e.errno) if e.errno else e}"
    return PyruncError(text + (f" (resctrl: {status})" if status and status != "ok" else ""))


def _write(path, text, rdt_root, what):
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except OSError as e:
        raise _error(rdt_root, what, e)
    try:
        os.write(fd, text.encode())
    except OSError as e:
        raise _error(rdt_root, what, e)
    finally:
        os.close(fd)


def apply(p, pid):
    """Put process pid in the plan's group (made and written if needed); returns the record
    that delete and update act from."""
    rdt_root = p.root
    made = False
    if p.group != rdt_root:
        if p.must_exist:
            if not os.path.isdir(p.group):
                raise PyruncError(f"{FIELD}: the CLOS group {os.path.basename(p.group)!r} does not exist (with no "
                                  "schemata, closID must name a group made beforehand)")
        else:
            try:
                mkdir(p.group, 0o755)
                made = True
            except FileExistsError:
                pass
            except OSError as e:
                raise _error(rdt_root, f"cannot make the CLOS group {p.group}", e)
    rec = {"root": rdt_root, "group": p.group, "made": made and p.own_name, "mon": None}
    try:
        if p.lines:
            schemata = os.path.join(p.group, "schemata")
            if not made and not p.own_name and os.path.exists(schemata):
                with open(schemata) as f:
                    diff = mismatches(p.lines, f.read())
                if diff:
                    raise PyruncError(f"{FIELD}: the CLOS group {os.path.basename(p.group)!r} exists with other "
                                      f"schemata ({', '.join(diff)} differ)")
            else:
                _write(schemata, "".join(line + "\n" for line in p.lines), rdt_root,
                       f"cannot write the schemata {p.lines}")
        _write(os.path.join(p.group, "tasks"), str(pid), rdt_root, f"cannot add pid {pid}")
        if p.mon:
            try:
                mkdir(p.mon, 0o755)
            except FileExistsError:
                pass
            except OSError as e:
                raise _error(rdt_root, "cannot make the MON group", e)
            rec["mon"] = p.mon
            _write(os.path.join(p.mon, "tasks"), str(pid), rdt_root, f"cannot add pid {pid} to the MON group")
    except BaseException:
        destroy(rec)
        raise
    return rec


def _rmdir(path):
    try:
        rmdir(path)  # (resctrl removes a group with its files, and moves its tasks to the parent)
    except FileNotFoundError:
        pass


def destroy(rec):
    """Remove what create made: the group if pyrunc made it under the container's name
    (the spec: never a closID's group), else the MON group."""
    if not rec:
        return
    if rec.get("made"):
        if rec.get("mon") and os.path.isdir(rec["mon"]):
            _rmdir(rec["mon"])
        _rmdir(rec["group"])
    elif rec.get("mon"):
        _rmdir(rec["mon"])


def update_lines(rec, l3=None, mb=None):
    """update --l3-cache-schema / --mem-bw-schema: the schemata lines for the container's
    group, checked (before anything of the update is written, as runc)."""
    if not rec:
        raise PyruncError("the container has no Intel RDT group (linux.intelRdt was not set at create)")
    lines = []
    for v, info, what in ((l3, "L3", "CAT"), (mb, "MB", "MBA")):
        if v:
            if not os.path.isdir(os.path.join(rec["root"], "info", info)):
                raise PyruncError(f"Intel RDT/{what} is not enabled on this host")
            if "\n" in v:
                raise PyruncError(f"invalid schema {v!r}: no newlines")
            lines.append(v)
    return lines


def write_lines(rec, lines):
    if lines:
        _write(os.path.join(rec["group"], "schemata"), "".join(line + "\n" for line in lines), rec["root"],
               f"cannot write the schemata {lines}")

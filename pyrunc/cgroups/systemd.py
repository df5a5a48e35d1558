"""The systemd cgroup driver (`--systemd-cgroup`), as runc's.

`linux.cgroupsPath` is `slice:prefix:name`; the container's cgroup is the transient unit
`prefix-name.scope` in `slice` (`system.slice` when empty, `user.slice` rootless), or the
slice `name` itself when the name ends in `.slice`.  An empty cgroupsPath is
`system.slice:runc:<id>`, as runc.  Slice names nest as systemd nests them:
`kubepods-besteffort-pod1.slice` lives in /kubepods.slice/kubepods-besteffort.slice/.

create starts the unit over D-Bus (pyrunc/systemd.py) with the executor's first stage as its
process: the executor holds (plan op HOLD) until systemd has moved it, so everything it
clones, the container's init first, is born in the unit's cgroup.  The unit gets runc's
properties (Description, Slice or Wants, Delegate, the accounting switches,
DefaultDependencies=no), the resources converted to properties as runc converts them,
`org.systemd.property.NAME` annotations, and the device rules as DevicePolicy/DeviceAllow;
then the cgroup files are written as by the cgroupfs driver (FsManager, on the unit's
directories), as runc does, so that what systemd cannot express still applies.  Everything
else -- freezer, pids, kill, stats, OOM counts -- is the cgroupfs driver's, on those
directories.  `update` sets the unit's properties and writes the files; `delete` stops the
unit (resetting it if it failed) and removes what is left.

On a v1 or hybrid systemd host the unit's directory is made by systemd in the hierarchies it
manages (name=systemd, and memory, cpu, blkio, pids, devices with accounting on); the other
controllers' directories at the same relative path are made here, as runc does.  Rootless
containers need the user's systemd on cgroup v2: the unit goes under the user manager's own
cgroup (user@UID.service), which it delegates to the user.
"""

import os

from ..errors import CgroupError, ConfigError
from .fs import FsManager

INFINITY = (1 << 64) - 1
SYSTEM_TRANSIENT = "/run/systemd/transient"  # the system manager's transient unit files
DEFAULT_QUOTA_PERIOD = 100000


def expand_slice(name):
    """The cgroup path of a slice: test-a-b.slice → /test.slice/test-a.slice/test-a-b.slice."""
    suffix = ".slice"
    if not name.endswith(suffix) or len(name) <= len(suffix) or "/" in name:
        raise ConfigError(f"invalid slice name: {name}")
    base = name[:-len(suffix)]
    if base == "-":
        return "/"
    path, prefix = "", ""
    for part in base.split("-"):
        if not part:
            raise ConfigError(f"invalid slice name: {name}")
        path += "/" + prefix + part + suffix
        prefix += part + "-"
    return path


def unit_of(cgroups_path, cid, rootless=False):
    """(slice, unit) for a cgroupsPath, as runc reads it."""
    if not cgroups_path:
        parent, prefix, name = "", "runc", cid
    else:
        parts = cgroups_path.split(":")
        if len(parts) != 3:
            raise ConfigError('expected cgroupsPath to be of format "slice:prefix:name" for systemd cgroups, '
                              f'got "{cgroups_path}" instead')
        parent, prefix, name = parts
    if not name:
        raise ConfigError(f"linux.cgroupsPath {cgroups_path!r}: the unit name is empty")
    unit = name if name.endswith(".slice") else f"{prefix}-{name}.scope"
    slice_ = parent or ("user.slice" if rootless else "system.slice")
    expand_slice(slice_)  # checked now: an error before anything is made
    if unit.endswith(".slice"):
        expand_slice(unit)
    return slice_, unit


# --- annotations: org.systemd.property.NAME=VALUE -------------------------------------------

PROP_PREFIX = "org.systemd.property."


TYPE_WORDS = {"byte": "y", "int16": "n", "uint16": "q", "int32": "i", "uint32": "u", "int64": "x",
              "uint64": "t", "double": "d", "boolean": "b", "string": "s", "objectpath": "o"}


def _strings(t):
    """A list of quoted strings, "['a', 'b']", as a Python list."""
    inner, out = t[1:-1].strip(), []
    while inner:
        q = inner[0]
        if q not in "'\"":
            raise ValueError(t)
        end = inner.index(q, 1)
        out.append(inner[1:end])
        inner = inner[end + 1:].lstrip()
        if inner.startswith(","):
            inner = inner[1:].lstrip()
        elif inner:
            raise ValueError(t)
    return out


def _parse_value(text):
    """A D-Bus value in GVariant text form (what runc parses): true/false, numbers (int32, or
    double with a point; `uint64 100`, `int32 -1`, `double 0.5` name the type), quoted
    strings, lists of quoted strings (`['a', 'b']`, `@as []`).  Returns (signature, value)."""
    t = text.strip()
    word, _, rest = t.partition(" ")
    if word in TYPE_WORDS and rest.strip():
        sig = TYPE_WORDS[word]
        inner, val = _parse_value(rest)
        if sig == "b" and inner == "b" or sig in "so" and inner == "s":
            return sig, val
        if sig == "d" and inner in "id":
            return sig, float(val)
        if sig in "ynqiuxt" and inner == "i":
            return sig, val
        raise ValueError(text)
    if t in ("true", "false"):
        return "b", t == "true"
    if t.startswith("@as "):
        t = t[4:].strip()
    if t.startswith("[") and t.endswith("]"):
        return "as", _strings(t)
    if len(t) >= 2 and t[0] == t[-1] and t[0] in "'\"":
        return "s", t[1:-1]
    try:
        return "i", int(t)
    except ValueError:
        return "d", float(t)  # ValueError: not a value


SEC_TO_USEC = {"y", "n", "q", "i", "u", "x", "t", "d"}


def annotation_props(annotations):
    """[(name, (signature, value))] of the org.systemd.property.* annotations, as runc: the
    name has letters only (3 at least); NAMESec becomes NAMEUSec in microseconds."""
    out = []
    for key in sorted(annotations or {}):
        if not key.startswith(PROP_PREFIX):
            continue
        name, value = key[len(PROP_PREFIX):], annotations[key]
        if len(name) < 3 or not name.isascii() or not name.isalpha():
            raise ConfigError(f"annotation {key} name incorrect: letters only, 3 at least")
        try:
            sig, val = _parse_value(value)
        except (ValueError, IndexError):
            raise ConfigError(f"annotation {key}={value} value parse error") from None
        if name.endswith("Sec") and len(name) > 3 and name[-4].islower():
            if sig not in SEC_TO_USEC:
                raise ConfigError(f"annotation {key}={value} value parse error: not a number")
            name, sig, val = name[:-3] + "USec", "t", int(val * 1000000)
        out.append((name, (sig, val)))
    return out


# --- resources → unit properties (as runc converts them) ------------------------------------

def _bits(ranges, field):
    """A cpuset list ("0-3,8") as systemd's AllowedCPUs byte mask (little endian)."""
    from ..config import id_list
    mask = 0
    for i in id_list(ranges, f"linux.resources.{field}", top=(1 << 16) - 1):
        mask |= 1 << i
    return mask.to_bytes((mask.bit_length() + 7) // 8 or 1, "little")


def _u64(v):
    return INFINITY if v == -1 else int(v)


def _quota_props(quota, period, version, props):
    """CPUQuotaPerSecUSec (+ CPUQuotaPeriodUSec), as runc: systemd keeps a quota in whole
    percents, so the quota is rounded up to one; returns the quota to write to the file."""
    if period:
        if version >= 242:
            props.append(("CPUQuotaPeriodUSec", ("t", int(period))))
    if quota or period:
        per_sec = INFINITY
        if quota and quota > 0:
            period = period or DEFAULT_QUOTA_PERIOD
            per_sec = quota * 1000000 // period
            if per_sec % 10000:
                per_sec = (per_sec // 10000 + 1) * 10000
                quota = per_sec * period // 1000000
        props.append(("CPUQuotaPerSecUSec", ("t", per_sec)))
    return quota


def resource_props(res, v2, version):
    """(properties, resources) for the unit: runc's conversion; the resources returned are
    those to write to the files (a CPU quota rounded as systemd keeps it)."""
    from .resources import cpu_weight, io_weight, swap_v2
    res = {k: (dict(v) if isinstance(v, dict) else v) for k, v in (res or {}).items()}
    props = []
    mem = res.get("memory") or {}
    limit = mem.get("limit") or 0
    if limit:
        props.append(("MemoryMax" if v2 else "MemoryLimit", ("t", _u64(limit))))
    if v2 and mem.get("reservation"):
        props.append(("MemoryLow", ("t", _u64(mem["reservation"]))))
    if v2 and mem.get("swap"):
        swap = swap_v2(mem["swap"], limit)
        if swap:
            props.append(("MemorySwapMax", ("t", _u64(swap))))
    cpu = res.get("cpu") or {}
    idle = False
    if v2 and cpu.get("idle") == 1 and version() >= 252:
        props.append(("CPUWeight", ("t", 0)))
        idle = True
    if cpu.get("shares"):
        if not v2:
            props.append(("CPUShares", ("t", int(cpu["shares"]))))
        elif not idle:
            props.append(("CPUWeight", ("t", cpu_weight(cpu["shares"]))))
    if cpu.get("quota") or cpu.get("period"):
        ver = version() if cpu.get("period") else 0
        q = _quota_props(cpu.get("quota") or 0, cpu.get("period") or 0, ver, props)
        if q and q != cpu.get("quota"):
            cpu["quota"] = q
            res["cpu"] = cpu
    for field, prop in (("cpus", "AllowedCPUs"), ("mems", "AllowedMemoryNodes")):
        if cpu.get(field) and version() >= 244:
            props.append((prop, ("ay", _bits(cpu[field], f"cpu.{field}"))))
    pids = (res.get("pids") or {}).get("limit") or 0
    if pids:
        props.append(("TasksMax", ("t", INFINITY if pids < 0 else pids)))
    weight = (res.get("blockIO") or {}).get("weight") or 0
    if weight:
        props.append(("IOWeight", ("t", io_weight(weight))) if v2 else ("BlockIOWeight", ("t", weight)))
    if v2:
        props += _unified_props(res.get("unified") or {}, version)
    return props, res


def _unified_props(unified, version):
    props = []
    mem_names = {"memory.high": "MemoryHigh", "memory.low": "MemoryLow", "memory.min": "MemoryMin",
                 "memory.max": "MemoryMax", "memory.swap.max": "MemorySwapMax"}
    for key in sorted(unified):
        v = str(unified[key]).strip()
        try:
            if key in mem_names:
                props.append((mem_names[key], ("t", INFINITY if v == "max" else int(v))))
            elif key == "pids.max":
                n = INFINITY if v == "max" else int(v)
                props.append(("TasksMax", ("t", n or 1)))
            elif key == "cpu.weight":
                if not (str(unified.get("cpu.idle", "")).strip() == "1" and version() >= 252):
                    props.append(("CPUWeight", ("t", int(v))))
            elif key == "cpu.idle":
                if v == "1" and version() >= 252:
                    props.append(("CPUWeight", ("t", 0)))
            elif key == "cpu.max":
                f = v.split()
                if not 1 <= len(f) <= 2:
                    raise ValueError(v)
                quota = 0 if f[0] == "max" else int(f[0])
                period = int(f[1]) if len(f) == 2 else DEFAULT_QUOTA_PERIOD
                _quota_props(quota, period, version(), props)
            elif key in ("cpuset.cpus", "cpuset.mems") and version() >= 244:
                prop = "AllowedCPUs" if key == "cpuset.cpus" else "AllowedMemoryNodes"
                props.append((prop, ("ay", _bits(v, f"unified.{key}"))))
        except ValueError:
            raise ConfigError(f"linux.resources.unified.{key}: invalid value {v!r}") from None
    return props


def device_props(rule_list, version):
    """DevicePolicy=strict with the allowed devices, as runc converts the rules (the rules are
    also enforced by pyrunc's own program or v1 files, which express all of them).

    The rules are evaluated as the v1 controller does, from deny-all: an allow-list results;
    one that ends in "allow all" gives DevicePolicy=auto; one that allows by default with
    exceptions cannot be said to systemd (strict, nothing allowed, a warning)."""
    from ..log import log
    allow_all = False
    allowed = {}  # (type, major, minor) -> access letters
    for allow, t, major, minor, access in rule_list:
        if t == "a" and major < 0 and minor < 0:
            allow_all, allowed = allow, {}
            continue
        types = ("c", "b") if t == "a" else (t,)
        for ty in types:
            key = (ty, major, minor)
            if allow_all:
                if not allow:
                    log.warning("systemd doesn't support blacklist device rules -- applying temporary "
                                "deny-all rule")
                    return [("DeviceAllow", ("a(ss)", [])), ("DevicePolicy", ("s", "strict"))]
                continue
            cur = set(allowed.get(key, ""))
            cur = cur | set(access) if allow else cur - set(access)
            if cur:
                allowed[key] = "".join(ch for ch in "rwm" if ch in cur)
            else:
                allowed.pop(key, None)
    if allow_all:
        return [("DeviceAllow", ("a(ss)", [])), ("DevicePolicy", ("s", "auto"))]
    entries = []
    for (ty, major, minor), access in allowed.items():
        group = "char-" if ty == "c" else "block-"
        if major < 0:
            if minor >= 0:
                log.warning(f"systemd doesn't support '*:n' device rules -- temporarily ignoring rule: "
                            f"{ty} *:{minor} {access}")
                continue
            path = group + "*"
        elif minor < 0:
            if version() < 240:
                continue  # older systemd wants a group name from /proc/devices; the program applies
            path = f"{group}{major}"
        else:
            path = f"/dev/{'char' if ty == 'c' else 'block'}/{major}:{minor}"
        entries.append((path, access))
    return [("DeviceAllow", ("a(ss)", [])), ("DevicePolicy", ("s", "strict")),
            ("DeviceAllow", ("a(ss)", entries))]


# --- the manager ----------------------------------------------------------------------------

def _init_cgroups():
    """pid 1's cgroup in each hierarchy (systemd's slices hang below it)."""
    from ..host import own_cgroups
    try:
        return own_cgroups("/proc/1/cgroup")
    except OSError:
        return {}


class SystemdManager(FsManager):
    kind = "systemd"
    attach_pid = True  # create starts the unit with the executor's first stage in it

    def __init__(self, paths, created=None, hs=None, unit="", slice_="", user=False, v2=True):
        super().__init__(paths, created, hs)
        self.unit, self.slice, self.user, self.v2 = unit, slice_, user, v2
        self._bus = None
        self._props = []
        self._started = False
        self._stage1 = None

    @classmethod
    def for_spec(cls, spec, cid, host, rootless=False):
        from ..host import layout
        slice_, unit = unit_of(spec.cgroups_path, cid, rootless)
        if not os.path.isdir("/run/systemd/system"):  # sd_booted(3), as runc checks it
            raise CgroupError("systemd not running on this host, cannot use systemd cgroups manager")
        hs = host.cgroup_hierarchies
        v2 = layout(hs) == "v2"
        if rootless and not v2:
            raise CgroupError("cannot use rootless systemd cgroups manager on cgroup v1")
        m = cls({}, hs=hs, unit=unit, slice_=slice_, user=rootless, v2=v2)
        m.rootless = rootless
        m._name = spec.cgroups_path.split(":")[-1] if spec.cgroups_path else cid
        if not rootless:  # rootless: under the user manager's cgroup, asked at attach
            m.paths = m._paths_under("")
        m._annotations = annotation_props(spec.annotations)
        return m

    def _paths_under(self, base):
        """{hierarchy key: directory} of the unit, below `base` (the user manager's cgroup
        when rootless; else each hierarchy's pid 1 cgroup, "/" normally)."""
        rel = expand_slice(self.unit) if self.unit.endswith(".slice") else \
            expand_slice(self.slice).rstrip("/") + "/" + self.unit
        init = {} if base else _init_cgroups()
        out = {}
        for h in self.hs:
            top = base or ("/" if h.version == 2 else init.get(h.key, "/"))
            if top.endswith("/init.scope"):  # systemd (226 and later) runs in init.scope
                top = top[:-len("init.scope")]
            if h.mountroot != "/" and top.startswith(h.mountroot):
                top = top[len(h.mountroot):] or "/"
            out[h.key] = os.path.normpath(h.mountpoint + "/" + top.strip("/") + "/" + rel.strip("/"))
        return out

    @classmethod
    def from_record(cls, rec):
        return cls(rec.get("paths"), rec.get("created"), unit=rec.get("unit", ""), slice_=rec.get("slice", ""),
                   user=rec.get("user", False), v2=rec.get("v2", True))

    def record(self):
        rec = super().record()
        rec.update(unit=self.unit, slice=self.slice, user=self.user, v2=self.v2)
        return rec

    def create_join_args(self):
        """What the executor joins itself at create: systemd has put it in the unit's cgroup
        (v2, and the v1 hierarchies systemd manages); the other v1 hierarchies' directories
        (made in attach, before the executor goes on) are joined as by the cgroupfs driver."""
        return [j for j in self.join_args() if j[0] == 1]

    def planned(self):
        return []  # systemd makes the unit's directories; what pyrunc makes is recorded at attach

    # ---- the bus ----
    def bus(self):
        if self._bus is None:
            from ..systemd import Systemd
            self._bus = Systemd(user=self.user)
        return self._bus

    def _version(self):
        return self.bus().version()

    # ---- create ----
    def create(self, resources, devices=()):
        """Checked and converted now (a bad value fails before anything is made); made in
        attach(), once the executor's first stage exists."""
        self._res = resources or {}
        self._devices = devices

    def attach(self, pid):
        """Start the unit with pid (the executor's first stage, holding) in it, then write the
        cgroup files as the cgroupfs driver does."""
        from . import devices as dev_rules
        sd = self.bus()
        if self.user and not self.paths:
            base = sd.manager_property("ControlGroup")
            self.paths = self._paths_under(base)
        res = self._res
        props, res = resource_props(res, self.v2, self._version)
        props += device_props(dev_rules.rules(res.get("devices"), self._devices), self._version)
        pids_limit = (res.get("pids") or {}).get("limit") or 0
        if pids_limit == 1:
            # the first stage is in the unit until the init is cloned: 2 tasks for a moment
            props = [p for p in props if p[0] != "TasksMax"] + [("TasksMax", ("t", 2))]
        base = [("Description", ("s", f"pyrunc container {self._name}"))]
        if self.unit.endswith(".slice"):
            base.append(("Wants", ("as", [self.slice])))
        else:
            base += [("Slice", ("s", self.slice)), ("Delegate", ("b", True)), ("PIDs", ("au", [pid]))]
        io_acct = "IOAccounting" if self.v2 else "BlockIOAccounting"
        base += [("MemoryAccounting", ("b", True)), ("CPUAccounting", ("b", True)), (io_acct, ("b", True)),
                 ("TasksAccounting", ("b", True)), ("DefaultDependencies", ("b", False))]
        oom_group = str((res.get("unified") or {}).get("memory.oom.group", "")).strip()
        if oom_group in ("0", "1") and self._version() >= 253:
            base.append(("OOMPolicy", ("s", "kill" if oom_group == "1" else "continue")))
        sd.start_transient(self.unit, base + props + self._annotations)
        self._started = True
        self._stage1 = pid
        if not self.unit.endswith(".slice"):
            self._check_placed(pid)
        super().create(res, self._devices, inside=(pid,))
        self._tasks_later = pids_limit == 1

    def enter(self, pid):
        """restore: the unit starts with criu in it (the restored tree is born there)."""
        self.attach(pid)

    def _check_placed(self, pid):
        """Where systemd really put the process (the computed path could differ on a host
        with an unusual layout): trust /proc."""
        from ..host import own_cgroups
        try:
            where = own_cgroups(f"/proc/{pid}/cgroup")
        except OSError:
            return
        for h in self.hs:
            p = where.get("" if h.version == 2 else h.key)
            if h.version == 2 and p and self.paths.get(h.key):
                top = h.mountroot if h.mountroot != "/" else ""
                real = os.path.normpath(h.mountpoint + "/" + p[len(top):])
                if real != self.paths[h.key] and real.endswith("/" + self.unit):
                    self.paths[h.key] = real

    def placed(self):
        super().placed()
        if getattr(self, "_tasks_later", False):
            self._tasks_later = False
            self.bus().set_properties(self.unit, [("TasksMax", ("t", 1))])

    def undo(self):
        """After a failed create: stop the unit this create started, then remove what it
        made itself."""
        try:
            if self._started:
                self._started = False
                self.bus().stop(self.unit)
        finally:
            super().undo()

    # ---- update, delete ----
    def update(self, old, new):
        props, new2 = resource_props({k: v for k, v in new.items() if k != "devices"}, self.v2, self._version)
        if props:
            self.bus().set_properties(self.unit, props)
        super().update(old, dict(new2, devices=new.get("devices")) if "devices" in new else new2)

    def destroy(self):
        """Kill what is left, stop the unit (and forget it if it failed), remove what stays."""
        self.kill_all(9)
        self.thaw_quietly()
        if not self._unit_gone():
            try:
                self.bus().stop(self.unit)
            except CgroupError as e:
                from ..log import log
                log.warning(f"systemd: {e}")
        return self._remove(self.created, self.paths.values())

    def _unit_gone(self):
        """Whether systemd has unloaded the unit already (a scope whose processes all ended
        is stopped and forgotten by systemd itself, unless it failed): then there is nothing
        to stop or reset, and no D-Bus to load (~30 ms of imports).  Known without asking:
        systemd keeps a transient unit's file in its runtime directory exactly as long as the
        unit is loaded, and the unit's cgroup is gone with it."""
        if self.user:
            xdg = os.environ.get("XDG_RUNTIME_DIR")
            if not xdg:
                return False
            transient = os.path.join(xdg, "systemd", "transient")
        else:
            transient = SYSTEM_TRANSIENT
        if not os.path.isdir(transient) or os.path.lexists(os.path.join(transient, self.unit)):
            return False
        return not any(os.path.isdir(p) for p in self.paths.values() if p not in self.created)

    def front(self):
        return None  # delete talks to systemd: Python's

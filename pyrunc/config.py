"""config.json → the container model: the one place the runtime-spec's fields are read.

`load(bundle)` reads the file, validates it against oci-spec/config-schema.json, then builds
a `Spec` of small classes (process, user, mounts, namespaces, devices, hooks, id maps) while
checking what a schema cannot say.  Everything after this module works on the model:
the compiler (compiler.py) turns it into a plan, the cgroup manager takes its resources.
`linux.resources` and `linux.seccomp` stay JSON documents inside the model: `update` merges
and saves resources as documents, and resources.py / seccomp.py check and read them.

Fields that pyrunc does not support yet are refused here with an error that names them,
never accepted and ignored.
"""

import os

from . import caps
from .errors import ConfigError
from .fastjson import nonempty

SOURCE = "config.json"
MAX_ID = 2147483647  # uids and gids: (uid_t)-1 means "unchanged" to the kernel; runc's range
MAX_MAPPED = 4294967294  # the last id a user namespace map may name
MAX_CONFIG = 16 << 20  # bytes: a config.json larger than this is refused unread

NS_TYPES = ("mount", "uts", "ipc", "user", "pid", "network", "cgroup", "time")

RLIMITS = {
    "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9,
    "RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13,
    "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}

IPC_SYSCTLS = ("kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
               "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced")

HOOKS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")

# process.ioPriority classes and process.scheduler policies and flags: the kernel's numbers
IOPRIO_CLASSES = {"IOPRIO_CLASS_RT": 1, "IOPRIO_CLASS_BE": 2, "IOPRIO_CLASS_IDLE": 3}
SCHED_POLICIES = {"SCHED_OTHER": 0, "SCHED_FIFO": 1, "SCHED_RR": 2, "SCHED_BATCH": 3, "SCHED_ISO": 4,
                  "SCHED_IDLE": 5, "SCHED_DEADLINE": 6}
SCHED_FLAGS = {"SCHED_FLAG_RESET_ON_FORK": 0x01, "SCHED_FLAG_RECLAIM": 0x02, "SCHED_FLAG_DL_OVERRUN": 0x04,
               "SCHED_FLAG_KEEP_POLICY": 0x08, "SCHED_FLAG_KEEP_PARAMS": 0x10, "SCHED_FLAG_UTIL_CLAMP_MIN": 0x20,
               "SCHED_FLAG_UTIL_CLAMP_MAX": 0x40}

# linux.personality domains: personality(2)'s PER_LINUX, PER_LINUX32 (the spec defines no flag)
PERSONALITIES = {"LINUX": 0x0000, "LINUX32": 0x0008}

# linux.memoryPolicy: set_mempolicy(2)'s modes and mode flags
MEMPOLICY_MODES = {"MPOL_DEFAULT": 0, "MPOL_PREFERRED": 1, "MPOL_BIND": 2, "MPOL_INTERLEAVE": 3, "MPOL_LOCAL": 4,
                   "MPOL_PREFERRED_MANY": 5, "MPOL_WEIGHTED_INTERLEAVE": 6}
MEMPOLICY_FLAGS = {"MPOL_F_NUMA_BALANCING": 1 << 13, "MPOL_F_RELATIVE_NODES": 1 << 14, "MPOL_F_STATIC_NODES": 1 << 15}
MAX_LIST_ID = 1023  # CPUs and NUMA nodes pyrunc-init's masks hold


def id_list(text, field, source=SOURCE, top=MAX_LIST_ID):
    """A Linux list ("0-3,7") as sorted numbers up to top; a ConfigError naming field when
    malformed."""
    out = set()
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        try:
            a, b = int(lo), int(hi) if sep else int(lo)
        except ValueError:
            raise _err(field, f"{text!r}: not a list like 0-3,7", source, subject=True) from None
        if a < 0 or b < a or b > top:
            raise _err(field, f"{text!r}: bad range {part!r} (0 to {top})", source, subject=True)
        out.update(range(a, b + 1))
    return sorted(out)


# Fields that later work implements.  Until then a config that sets them is refused.
NOT_YET = []  # (section, key) of fields refused as not supported yet: none now


def clean(path):
    """A container path made absolute and lexically clean, as runc's CleanPath."""
    return os.path.normpath("/" + path.lstrip("/"))





def _err(field, msg, source=SOURCE, subject=False):
    return ConfigError(msg, field=field, source=source, subject=subject)


def check_id(value, field, source=SOURCE):
    """A uid or gid that reaches a syscall: 0 to 2^31-1, as runc allows.  Beyond that the
    kernel reads (uid_t)-1 as "leave it unchanged": the process would stay root."""
    if not 0 <= value <= MAX_ID:
        raise _err(field, f"uids and gids must be in range 0-{MAX_ID}, not {value}", source)


def check_id_maps(maps, field, source=SOURCE):
    for i, m in enumerate(maps or ()):
        if m["size"] < 1:
            raise _err(f"{field}[{i}]", "size must be at least 1", source)
        for key in ("containerID", "hostID"):
            if m[key] + m["size"] - 1 > MAX_MAPPED:
                raise _err(f"{field}[{i}]", f"{key} {m[key]} with size {m['size']} goes past {MAX_MAPPED}",
                           source)


# ---------------------------------------------------------------------------------------
# the model

class IdMap:
    __slots__ = ("container_id", "host_id", "size")

    def __init__(self, d):
        self.container_id, self.host_id, self.size = d["containerID"], d["hostID"], d["size"]


def id_maps(lst):
    return [IdMap(m) for m in lst or ()]


class User:
    __slots__ = ("uid", "gid", "umask", "additional_gids")

    def __init__(self, d):
        self.uid, self.gid = d.get("uid", 0), d.get("gid", 0)
        self.umask = d.get("umask", 0o022)
        self.additional_gids = list(d.get("additionalGids") or ())


class Rlimit:
    __slots__ = ("type", "number", "soft", "hard")

    def __init__(self, d):
        self.type, self.number = d["type"], RLIMITS[d["type"]]
        self.soft, self.hard = d["soft"], d["hard"]


class Capabilities:
    __slots__ = ("bounding", "effective", "permitted", "inheritable", "ambient")
    SETS = ("bounding", "effective", "permitted", "inheritable", "ambient")

    def __init__(self, d):
        for k in self.SETS:
            setattr(self, k, list(d.get(k) or ()))

    def masks(self):
        return [caps.mask(getattr(self, k)) for k in self.SETS]


class Process:
    """process (of config.json, of exec --process, or the container's with exec's flags)."""
    __slots__ = ("terminal", "console_size", "user", "args", "env", "cwd", "capabilities",
                 "rlimits", "no_new_privileges", "apparmor_profile", "selinux_label",
                 "oom_score_adj", "io_priority", "scheduler", "exec_cpu_affinity", "doc")

    def __init__(self, d):
        self.doc = d  # the document, kept in the state for exec and hooks
        self.terminal = bool(d.get("terminal"))
        cs = d.get("consoleSize") or {}
        self.console_size = (cs.get("height", 0), cs.get("width", 0)) if cs else None
        self.user = User(d.get("user") or {})
        self.args = list(d.get("args") or ())
        self.env = list(d.get("env") or ())
        self.cwd = d.get("cwd", "")
        c = d.get("capabilities")
        self.capabilities = Capabilities(c) if c is not None else None
        self.rlimits = [Rlimit(r) for r in d.get("rlimits") or ()]
        self.no_new_privileges = bool(d.get("noNewPrivileges"))
        self.apparmor_profile = d.get("apparmorProfile") or ""
        self.selinux_label = d.get("selinuxLabel") or ""
        self.oom_score_adj = d.get("oomScoreAdj")
        io = d.get("ioPriority")
        # ioprio_set's value: the class in the top bits, the level below
        self.io_priority = (IOPRIO_CLASSES[io["class"]] << 13 | io.get("priority", 0)) if io else None
        aff = d.get("execCPUAffinity") or {}
        # exec only (the spec: not the container's init): (initial, final) CPU lists, [] unset
        self.exec_cpu_affinity = (id_list(aff.get("initial"), "process.execCPUAffinity.initial"),
                                  id_list(aff.get("final"), "process.execCPUAffinity.final"))
        sc = d.get("scheduler")
        self.scheduler = None
        if sc:
            flags = 0
            for f in sc.get("flags") or ():
                flags |= SCHED_FLAGS[f]
            self.scheduler = (SCHED_POLICIES[sc["policy"]], flags, sc.get("nice", 0), sc.get("priority", 0),
                              sc.get("runtime", 0), sc.get("deadline", 0), sc.get("period", 0))

    def path_env(self):
        """PATH of the process's environment (the last one), or None."""
        return next((e[5:] for e in reversed(self.env) if e.startswith("PATH=")), None)


class Mount:
    __slots__ = ("index", "destination", "type", "source", "options", "parsed",
                 "uid_mappings", "gid_mappings")

    def __init__(self, i, d):
        self.index = i
        self.destination = clean(d["destination"])
        self.type = d.get("type") or ""
        self.source = d.get("source") or ""
        self.options = list(d.get("options") or ())
        from .mountopts import parse
        self.parsed = parse(self.options, f"mounts[{i}].options")
        self.uid_mappings = id_maps(d.get("uidMappings"))
        self.gid_mappings = id_maps(d.get("gidMappings"))

    @property
    def field(self):
        return f"mounts[{self.index}]"

    def is_bind(self):
        return self.type == "bind" or bool(self.parsed.flags & 4096)  # MS_BIND

    def idmapped(self):
        return bool(self.parsed.idmap or self.uid_mappings or self.gid_mappings)


class Hook:
    __slots__ = ("path", "args", "env", "timeout")

    def __init__(self, d):
        self.path = d["path"]
        self.args = list(d.get("args") or [d["path"]])
        self.env = None if d.get("env") is None else list(d["env"])
        self.timeout = d.get("timeout") or 0


def hooks_of(d):
    """{kind: [Hook]} of a hooks document (config.json's, or the state's copy)."""
    return {k: [Hook(h) for h in (d or {}).get(k) or ()] for k in HOOKS}


class Device:
    __slots__ = ("path", "type", "major", "minor", "file_mode", "uid", "gid")

    def __init__(self, d):
        self.path = clean(d["path"])
        self.type = d["type"]
        self.major, self.minor = d.get("major", 0), d.get("minor", 0)
        self.file_mode = d.get("fileMode", 0o666)
        self.uid, self.gid = d.get("uid", 0), d.get("gid", 0)


class Spec:
    """A container's configuration, checked."""
    __slots__ = ("bundle", "oci_version", "root_path", "root_readonly", "process", "hostname",
                 "domainname", "mounts", "hooks", "annotations", "namespaces", "uid_mappings",
                 "gid_mappings", "devices", "cgroups_path", "resources", "sysctl", "seccomp",
                 "rootfs_propagation", "masked_paths", "readonly_paths", "mount_label",
                 "time_offsets", "personality", "memory_policy", "net_devices", "intel_rdt", "doc")

    def new_ns(self, t):
        """Does the container get a new namespace of type t?"""
        return self.namespaces.get(t) == ""

    def has_ns(self, t):
        return t in self.namespaces

    def hooks_doc(self):
        return (self.doc.get("hooks") or {})

    def linux_doc(self):
        return self.doc.get("linux") or {}


# ---------------------------------------------------------------------------------------
# loading and checking

def read_document(path, what, limit=MAX_CONFIG, error=None):
    """The bytes of a JSON document given by path: a regular file of at most `limit` bytes
    (a fifo, a device or /dev/zero is refused, not read forever)."""
    import stat
    error = error or (lambda msg: ConfigError(msg))
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        raise error(f"{what} not found")
    except OSError as e:
        raise error(f"cannot read {what}: {e.strerror}")
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise error(f"{what} is not a file")
        if not stat.S_ISREG(st.st_mode):
            raise error(f"{what} is not a regular file")
        if st.st_size > limit:
            raise error(f"{what} is too large ({st.st_size} bytes, at most {limit})")
        chunks, total = [], 0
        while True:
            b = os.read(fd, 1 << 16)
            if not b:
                break
            total += len(b)
            if total > limit:
                raise error(f"{what} is too large (more than {limit} bytes)")
            chunks.append(b)
        return b"".join(chunks)
    except OSError as e:
        raise error(f"cannot read {what}: {e.strerror}")
    finally:
        os.close(fd)


def parse_json(raw, source):
    from . import fastjson
    try:
        return fastjson.loads(raw)
    except ValueError as e:
        raise ConfigError(f"not valid JSON: {e}", source=source)


def load(bundle):
    """Read, parse and validate <bundle>/config.json; returns the Spec."""
    raw = read_document(os.path.join(bundle, "config.json"), "config.json",
                        error=lambda msg: ConfigError(f"bundle {bundle}: {msg}"))
    return from_document(parse_json(raw, SOURCE), bundle)


def from_document(cfg, bundle):
    """The Spec of a parsed config document (validated here)."""
    from .schema import load_schema, validate
    validate(cfg, load_schema("config-schema.json"))
    return build(cfg, bundle)


def rootfs_path(root_path, bundle):
    return os.path.normpath(root_path if root_path.startswith("/") else os.path.join(bundle, root_path))


def build(cfg, bundle):
    """Check a schema-valid config and make its Spec."""
    ver = cfg["ociVersion"]
    if not ver.startswith("1."):
        raise _err("ociVersion", f"{ver!r}: pyrunc supports runtime-spec 1.x")
    if "root" not in cfg:
        raise _err("root", "required on Linux")
    if "process" not in cfg:
        raise _err("process", "required to create a container")
    linux = cfg.get("linux") or {}
    for section, key in NOT_YET:
        if section == "linux" and nonempty(linux.get(key)):
            raise _err(f"{section}.{key}", "is not supported yet by pyrunc", subject=True)
    s = Spec()
    s.doc = cfg
    s.bundle = bundle
    s.oci_version = ver
    s.root_path = rootfs_path(cfg["root"]["path"], bundle)
    s.root_readonly = bool(cfg["root"].get("readonly"))
    s.annotations = cfg.get("annotations") or {}
    s.hostname = cfg.get("hostname") or ""
    s.domainname = cfg.get("domainname") or ""
    s.resources = linux.get("resources") or {}
    from .cgroups.resources import check as check_resources
    check_resources(s.resources)
    s.seccomp = linux.get("seccomp")
    s.personality = _personality(linux.get("personality"))
    s.memory_policy = _memory_policy(linux.get("memoryPolicy"))
    if s.seccomp is not None:
        from . import seccomp
        seccomp.check(s.seccomp)
    s.process = check_process(cfg["process"], "process")
    ns = {}
    for i, n in enumerate(linux.get("namespaces") or ()):
        if n["type"] in ns:
            raise _err(f"linux.namespaces[{i}]", f"duplicate namespace {n['type']!r}")
        ns[n["type"]] = n.get("path") or ""
    s.namespaces = ns
    # (checked against the host's resctrl by create, which knows the container's id)
    s.intel_rdt = linux.get("intelRdt")
    s.net_devices = {}
    if linux.get("netDevices") is not None:
        from .netdevices import check as check_net_devices
        s.net_devices = check_net_devices(linux["netDevices"], ns)
    if "mount" not in ns:
        # the runtime's mount namespace is shared (as under runc and crun): the mounts are
        # made there, inside the rootfs, and delete detaches them; what would change the
        # runtime's own mounts is refused
        for key in ("maskedPaths", "readonlyPaths"):
            if linux.get(key):
                raise _err(f"linux.{key}", "needs a mount namespace (without one the container "
                           "shares the runtime's mounts)", subject=True)
        if linux.get("rootfsPropagation"):
            raise _err("linux.rootfsPropagation", "needs a mount namespace", subject=True)
        if s.root_readonly:
            raise _err("root.readonly", "needs a mount namespace", subject=True)
    check_id_maps(linux.get("uidMappings"), "linux.uidMappings")
    check_id_maps(linux.get("gidMappings"), "linux.gidMappings")
    s.uid_mappings = id_maps(linux.get("uidMappings"))
    s.gid_mappings = id_maps(linux.get("gidMappings"))
    if ns.get("user") == "":
        if not s.uid_mappings or not s.gid_mappings:
            raise _err(None, "a new user namespace needs linux.uidMappings and linux.gidMappings")
    elif (s.uid_mappings or s.gid_mappings) and not ns.get("user"):
        # (with a user namespace joined by path they describe it, as Docker and podman send
        # them: accepted, as runc accepts them; the namespace keeps its own maps)
        raise _err(None, "linux.uidMappings/gidMappings are set but there is no new user namespace")
    s.time_offsets = linux.get("timeOffsets") or {}
    if s.time_offsets and ns.get("time") != "":
        raise _err("linux.timeOffsets", "needs a new time namespace", subject=True)
    if s.hostname and "uts" not in ns:
        raise _err("hostname", "needs a uts namespace", subject=True)
    if s.domainname and "uts" not in ns:
        raise _err("domainname", "needs a uts namespace", subject=True)
    s.sysctl = linux.get("sysctl") or {}
    for key in s.sysctl:
        _check_sysctl(key, ns)
    for i, d in enumerate(linux.get("devices") or ()):
        if d["type"] != "p" and ("major" not in d or "minor" not in d):
            raise _err(f"linux.devices[{i}]", f"major and minor are required for type {d['type']!r}")
        for key in ("uid", "gid"):
            if key in d:
                check_id(d[key], f"linux.devices[{i}].{key}")
    s.devices = [Device(d) for d in linux.get("devices") or ()]
    s.mounts = []
    for i, m in enumerate(cfg.get("mounts") or ()):
        check_id_maps(m.get("uidMappings"), f"mounts[{i}].uidMappings")
        check_id_maps(m.get("gidMappings"), f"mounts[{i}].gidMappings")
        try:
            s.mounts.append(Mount(i, m))
        except ConfigError as e:
            e.source = e.source or SOURCE
            raise
    s.hooks = hooks_of(cfg.get("hooks"))
    s.cgroups_path = linux.get("cgroupsPath") or ""
    s.rootfs_propagation = linux.get("rootfsPropagation") or ""
    s.masked_paths = [clean(p) for p in linux.get("maskedPaths") or ()]
    s.readonly_paths = [clean(p) for p in linux.get("readonlyPaths") or ()]
    s.mount_label = linux.get("mountLabel") or ""
    return s


def _check_io_priority(io, where, source):
    if not io:
        return
    field = f"{where}.ioPriority"
    if not isinstance(io, dict) or io.get("class") not in IOPRIO_CLASSES:
        raise _err(f"{field}.class", f"{(io or {}).get('class')!r}: want one of {', '.join(IOPRIO_CLASSES)}",
                   source, subject=True)
    level = io.get("priority", 0)
    if not isinstance(level, int) or isinstance(level, bool) or not 0 <= level <= 7:
        raise _err(f"{field}.priority", f"{level!r}: must be between 0 and 7", source, subject=True)


def _check_scheduler(sc, where, source):
    """As runc checks it: a known policy and flags, nice within -20..19, a priority only for
    the real-time policies (1..99 there), runtime/deadline/period only for SCHED_DEADLINE."""
    if not sc:
        return
    field = f"{where}.scheduler"
    policy = sc.get("policy") if isinstance(sc, dict) else None
    if policy not in SCHED_POLICIES:
        raise _err(f"{field}.policy", f"{policy!r}: want one of {', '.join(SCHED_POLICIES)}", source, subject=True)
    for i, f in enumerate(sc.get("flags") or ()):
        if f not in SCHED_FLAGS:
            raise _err(f"{field}.flags[{i}]", f"unknown flag {f!r}", source, subject=True)

    def number(key, lo, hi):
        v = sc.get(key, 0)
        if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
            raise _err(f"{field}.{key}", f"{v!r}: must be between {lo} and {hi}", source, subject=True)
        return v
    number("nice", -20, 19)
    prio = number("priority", 0, 99)
    if policy in ("SCHED_FIFO", "SCHED_RR"):
        if prio == 0:
            raise _err(f"{field}.priority", f"must be between 1 and 99 for {policy}", source, subject=True)
    elif prio:
        raise _err(f"{field}.priority", f"can only be set for SCHED_FIFO or SCHED_RR, not {policy}", source,
                   subject=True)
    times = [number(k, 0, (1 << 64) - 1) for k in ("runtime", "deadline", "period")]
    if policy != "SCHED_DEADLINE" and any(times):
        raise _err(field, f"runtime, deadline and period can only be set for SCHED_DEADLINE, not {policy}",
                   source)


def _memory_policy(mp):
    """(mode | flags, [nodes]) of set_mempolicy(2) for linux.memoryPolicy, or None."""
    if not mp:
        return None
    field = "linux.memoryPolicy"
    if not isinstance(mp, dict) or mp.get("mode") not in MEMPOLICY_MODES:
        mode = mp.get("mode") if isinstance(mp, dict) else mp
        raise _err(f"{field}.mode", f"{mode!r}: want one of {', '.join(MEMPOLICY_MODES)}", subject=True)
    mode = mp["mode"]
    value = MEMPOLICY_MODES[mode]
    for i, f in enumerate(mp.get("flags") or ()):
        if f not in MEMPOLICY_FLAGS:
            raise _err(f"{field}.flags[{i}]", f"unknown flag {f!r}", subject=True)
        value |= MEMPOLICY_FLAGS[f]
    flags = set(mp.get("flags") or ())
    if {"MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"} <= flags:
        raise _err(f"{field}.flags", "MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES exclude each other", subject=True)
    nodes = id_list(mp.get("nodes"), f"{field}.nodes")
    if mode in ("MPOL_DEFAULT", "MPOL_LOCAL"):
        if nodes:
            raise _err(f"{field}.nodes", f"must be empty for {mode}", subject=True)
    elif mode != "MPOL_PREFERRED" and not nodes:
        raise _err(f"{field}.nodes", f"required for {mode}", subject=True)
    return value, nodes


def _personality(p):
    """personality(2)'s value for linux.personality, or None."""
    if not p:
        return None
    domain = p.get("domain") if isinstance(p, dict) else None
    if domain not in PERSONALITIES:
        raise _err("linux.personality.domain", f"{domain!r}: want LINUX or LINUX32", subject=True)
    if p.get("flags"):
        raise _err("linux.personality.flags", f"{p['flags']!r}: the runtime-spec defines no personality flags",
                   subject=True)
    return PERSONALITIES[domain]


def check_process(proc, where="process", source=SOURCE):
    """The checks of a process object (config.json's, or exec's --process); its model."""
    for section, key in NOT_YET:
        if section == "process" and nonempty(proc.get(key)):
            raise _err(f"{where}.{key}", "is not supported yet by pyrunc", source, subject=True)
    if not proc.get("args"):
        raise _err(f"{where}.args", "must not be empty", source, subject=True)
    if proc.get("apparmorProfile") or proc.get("selinuxLabel"):
        from .lsm import check_process as check_lsm
        check_lsm(proc, where, source)
    if not proc.get("cwd", "").startswith("/"):
        raise _err(f"{where}.cwd", f"{proc.get('cwd')!r} must be an absolute path", source, subject=True)
    if "user" not in proc:
        raise _err(f"{where}.user", "required on Linux", source)
    user = proc["user"]
    for key in ("uid", "gid"):
        check_id(user.get(key, 0), f"{where}.user.{key}", source)
    for i, g in enumerate(user.get("additionalGids") or ()):
        check_id(g, f"{where}.user.additionalGids[{i}]", source)
    unknown = set()
    for key in Capabilities.SETS:
        caps.mask((proc.get("capabilities") or {}).get(key), unknown)
    caps.warn_unknown(unknown)
    seen = set()
    for i, r in enumerate(proc.get("rlimits") or ()):
        if r["type"] not in RLIMITS:
            raise _err(f"{where}.rlimits[{i}]", f"unknown rlimit {r['type']!r}", source)
        if r["type"] in seen:
            raise _err(f"{where}.rlimits[{i}]", f"duplicate {r['type']}", source)
        if r["soft"] > r["hard"]:
            raise _err(f"{where}.rlimits[{i}]", "soft limit above the hard limit", source)
        seen.add(r["type"])
    _check_io_priority(proc.get("ioPriority"), where, source)
    aff = proc.get("execCPUAffinity") or {}
    for key in ("initial", "final"):
        id_list(aff.get(key), f"{where}.execCPUAffinity.{key}", source)
    _check_scheduler(proc.get("scheduler"), where, source)
    if proc.get("terminal") is not None and not isinstance(proc.get("terminal"), bool):
        raise _err(f"{where}.terminal", "must be a boolean", source, subject=True)
    return Process(proc)


def _runtimes_own(path, kind):
    """Is the namespace at path the one pyrunc itself runs in (the host's, as runc says)?"""
    files = {"ipc": "ipc", "network": "net", "uts": "uts"}
    try:
        a, b = os.stat(path), os.stat(f"/proc/self/ns/{files[kind]}")
    except OSError:
        return False  # joining it fails later, with the path named
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _check_sysctl(key, ns):
    for kind, test, name in (("ipc", key in IPC_SYSCTLS or key.startswith("fs.mqueue."), "ipc"),
                             ("network", key.startswith("net."), "network"),
                             ("uts", key == "kernel.domainname", "uts")):
        if not test:
            continue
        if ns.get(kind) is None:
            raise _err(None, f"sysctl {key!r} needs an {name} namespace" if name == "ipc"
                       else f"sysctl {key!r} needs a {name} namespace")
        if ns[kind] and _runtimes_own(ns[kind], kind):
            # joined by path, but it is the runtime's own: the sysctl would change the host's
            raise _err(None, f"sysctl {key!r} not allowed in host {name} namespace")
        return
    if key == "kernel.hostname":
        raise _err(None, "sysctl 'kernel.hostname' is not allowed: use the hostname field")
    raise _err(None, f"sysctl {key!r} is not in a separate kernel namespace")


def sysctl_path(key):
    return "sys/" + (key if "/" in key else key.replace(".", "/"))

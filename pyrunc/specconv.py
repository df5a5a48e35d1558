"""From config.json to a plan: every decision about the container is made here.

`load(bundle)` reads and validates the config (schema, then meaning); `compile_plan` turns
it into the ordered operations of docs/plan.md.  Fields that pyrunc does not support yet
are refused here with an error that names them, never accepted and ignored.
"""

import os

from . import caps, mountopts as mo
from .errors import PyruncError
from .plan import Plan

NS_FLAGS = {
    "mount": 0x00020000, "uts": 0x04000000, "ipc": 0x08000000, "user": 0x10000000,
    "pid": 0x20000000, "network": 0x40000000, "cgroup": 0x02000000, "time": 0x00000080,
}
# joined in this order: the user namespace first (it owns the others), mount last (after
# it, host paths would be looked up in the joined namespace)
JOIN_ORDER = ("user", "cgroup", "ipc", "uts", "network", "pid", "time", "mount")

RLIMITS = {
    "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9,
    "RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13,
    "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}

DEFAULT_DEVICES = [  # path, type, major, minor
    ("/dev/null", "c", 1, 3), ("/dev/zero", "c", 1, 5), ("/dev/full", "c", 1, 7),
    ("/dev/random", "c", 1, 8), ("/dev/urandom", "c", 1, 9), ("/dev/tty", "c", 5, 0),
]
DEFAULT_LINKS = [("/proc/self/fd", "/dev/fd"), ("/proc/self/fd/0", "/dev/stdin"),
                 ("/proc/self/fd/1", "/dev/stdout"), ("/proc/self/fd/2", "/dev/stderr")]

IPC_SYSCTLS = ("kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
               "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced")

# Fields that later issues implement.  Until then a config that sets them is refused.
NOT_YET = [
    ("process", "ioPriority"), ("process", "scheduler"), ("process", "execCPUAffinity"),
    ("linux", "intelRdt"), ("linux", "personality"),
    ("linux", "netDevices"), ("linux", "memoryPolicy"),
]
HOOKS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")


def clean(path):
    """A container path made absolute and lexically clean, as runc's CleanPath."""
    return os.path.normpath("/" + path.lstrip("/"))


def load(bundle):
    """Read, parse and validate <bundle>/config.json; returns the config dict."""
    from . import fastjson
    from .schema import load_schema, validate
    path = os.path.join(bundle, "config.json")
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise PyruncError(f"bundle {bundle}: config.json not found")
    except IsADirectoryError:
        raise PyruncError(f"bundle {bundle}: config.json is not a file")
    except OSError as e:
        raise PyruncError(f"bundle {bundle}: cannot read config.json: {e.strerror}")
    try:
        cfg = fastjson.loads(raw)
    except ValueError as e:
        raise PyruncError(f"config.json: not valid JSON: {e}")
    validate(cfg, load_schema("config-schema.json"))
    check(cfg)
    return cfg


def _nonempty(v):
    return v not in (None, "", [], {})


def check(cfg):
    """Meaning checks that a schema cannot express."""
    ver = cfg["ociVersion"]
    if not ver.startswith("1."):
        raise PyruncError(f"config.json: ociVersion {ver!r}: pyrunc supports runtime-spec 1.x")
    if "root" not in cfg:
        raise PyruncError("config.json: root: required on Linux")
    if "process" not in cfg:
        raise PyruncError("config.json: process: required to create a container")
    proc = cfg["process"]
    linux = cfg.get("linux") or {}
    for section, key in NOT_YET:
        if section == "linux" and _nonempty(linux.get(key)):
            raise PyruncError(f"config.json: {section}.{key} is not supported yet by pyrunc")
    from .resources import check as check_resources
    check_resources(linux.get("resources"))
    if linux.get("seccomp") is not None:
        from . import seccomp
        seccomp.check(linux["seccomp"])
    check_process(proc, "config.json: process")
    ns = {}
    for i, n in enumerate(linux.get("namespaces") or ()):
        if n["type"] in ns:
            raise PyruncError(f"config.json: linux.namespaces[{i}]: duplicate namespace {n['type']!r}")
        ns[n["type"]] = n.get("path") or ""
    if "mount" not in ns:
        # the runtime's mount namespace is shared (as under runc and crun): the mounts are
        # made there, inside the rootfs, and delete detaches them; what would change the
        # runtime's own mounts is refused
        for key in ("maskedPaths", "readonlyPaths"):
            if linux.get(key):
                raise PyruncError(f"config.json: linux.{key} needs a mount namespace "
                                  "(without one the container shares the runtime's mounts)")
        if linux.get("rootfsPropagation"):
            raise PyruncError("config.json: linux.rootfsPropagation needs a mount namespace")
        if (cfg.get("root") or {}).get("readonly"):
            raise PyruncError("config.json: root.readonly needs a mount namespace")
    if ns.get("user") == "":
        if not linux.get("uidMappings") or not linux.get("gidMappings"):
            raise PyruncError("config.json: a new user namespace needs linux.uidMappings and linux.gidMappings")
    elif linux.get("uidMappings") or linux.get("gidMappings"):
        raise PyruncError("config.json: linux.uidMappings/gidMappings are set but there is no new user namespace")
    if linux.get("timeOffsets") and ns.get("time") != "":
        raise PyruncError("config.json: linux.timeOffsets needs a new time namespace")
    if cfg.get("hostname") and "uts" not in ns:
        raise PyruncError("config.json: hostname needs a uts namespace")
    if cfg.get("domainname") and "uts" not in ns:
        raise PyruncError("config.json: domainname needs a uts namespace")
    for key in (linux.get("sysctl") or {}):
        _check_sysctl(key, ns)
    for i, d in enumerate(linux.get("devices") or ()):
        if d["type"] != "p" and ("major" not in d or "minor" not in d):
            raise PyruncError(f"config.json: linux.devices[{i}]: major and minor are required for type {d['type']!r}")
    for i, m in enumerate(cfg.get("mounts") or ()):
        mo.parse(m.get("options"), f"mounts[{i}].options")


def check_process(proc, where):
    """The checks of a process object (config.json's, or exec's --process)."""
    for section, key in NOT_YET:
        if section == "process" and _nonempty(proc.get(key)):
            raise PyruncError(f"{where}.{key} is not supported yet by pyrunc")
    if not proc.get("args"):
        raise PyruncError(f"{where}.args must not be empty")
    if proc.get("apparmorProfile") or proc.get("selinuxLabel"):
        from .lsm import check_process as check_lsm
        check_lsm(proc, where)
    if not proc.get("cwd", "").startswith("/"):
        raise PyruncError(f"{where}.cwd {proc.get('cwd')!r} must be an absolute path")
    if "user" not in proc:
        raise PyruncError(f"{where}.user: required on Linux")
    for key in ("bounding", "effective", "permitted", "inheritable", "ambient"):
        caps.mask((proc.get("capabilities") or {}).get(key), f"{where}.capabilities.{key}")
    seen = set()
    for i, r in enumerate(proc.get("rlimits") or ()):
        if r["type"] not in RLIMITS:
            raise PyruncError(f"{where}.rlimits[{i}]: unknown rlimit {r['type']!r}")
        if r["type"] in seen:
            raise PyruncError(f"{where}.rlimits[{i}]: duplicate {r['type']}")
        if r["soft"] > r["hard"]:
            raise PyruncError(f"{where}.rlimits[{i}]: soft limit above the hard limit")
        seen.add(r["type"])
    if proc.get("terminal") is not None and not isinstance(proc.get("terminal"), bool):
        raise PyruncError(f"{where}.terminal must be a boolean")


def _check_sysctl(key, ns):
    if key in IPC_SYSCTLS or key.startswith("fs.mqueue."):
        if ns.get("ipc") is None:
            raise PyruncError(f"config.json: sysctl {key!r} needs an ipc namespace")
        return
    if key.startswith("net."):
        if ns.get("network") is None:
            raise PyruncError(f"config.json: sysctl {key!r} needs a network namespace")
        return
    if key == "kernel.domainname":
        if ns.get("uts") is None:
            raise PyruncError(f"config.json: sysctl {key!r} needs a uts namespace")
        return
    if key == "kernel.hostname":
        raise PyruncError("config.json: sysctl 'kernel.hostname' is not allowed: use the hostname field")
    raise PyruncError(f"config.json: sysctl {key!r} is not in a separate kernel namespace")


def sysctl_path(key):
    return "sys/" + (key if "/" in key else key.replace(".", "/"))


class Options:
    """What the command line adds to a config."""

    def __init__(self, bundle, fifo=None, console_socket=None, no_pivot=False,
                 no_new_keyring=False, preserve_fds=0, cgroup_paths=None, cid="",
                 extra_env=(), rootless=False, shared_rootfs=""):
        self.rootless = rootless
        # exec into a container without a mount namespace of its own: its rootfs (a chroot)
        self.shared_rootfs = shared_rootfs
        self.mount_label = None  # linux.mountLabel where SELinux can use it (compile_plan)
        self.passed_fds = []  # made while compiling (idmapped trees), for the executor: caller closes
        self.bundle = bundle
        self.fifo = fifo
        self.console_socket = console_socket
        self.no_pivot = no_pivot
        self.no_new_keyring = no_new_keyring
        self.preserve_fds = preserve_fds
        self.cgroup_paths = cgroup_paths or {}
        self.cid = cid
        self.extra_env = extra_env


def rootfs_path(cfg, bundle):
    p = cfg["root"]["path"]
    return os.path.normpath(p if p.startswith("/") else os.path.join(bundle, p))


def namespaces(cfg):
    return {n["type"]: n.get("path") or "" for n in (cfg.get("linux") or {}).get("namespaces") or ()}


def compile_plan(cfg, opt):
    """The plan for creating this container (docs/plan.md lists the ops)."""
    plan = Plan()
    proc = cfg["process"]
    linux = cfg.get("linux") or {}
    ns = namespaces(cfg)
    userns = ns.get("user") == ""
    rootfs = rootfs_path(cfg, opt.bundle)
    if linux.get("mountLabel"):
        from .lsm import check_mount_label
        opt.mount_label = check_mount_label(linux["mountLabel"])

    # --- stage 1: join the cgroups (host paths: first), join namespaces, then clone into
    # the new ones ---
    _cgroup_join(plan, opt.cgroup_paths)
    for t in JOIN_ORDER:
        if ns.get(t):
            plan.add("SETNS", ns[t], NS_FLAGS[t])
    if ns.get("time") == "":
        off = linux.get("timeOffsets") or {}
        text = "".join(f"{k} {off[k].get('secs', 0)} {off[k].get('nanosecs', 0)}\n"
                       for k in ("monotonic", "boottime") if k in off)
        plan.add("TIMENS", text or "monotonic 0 0\n")
    flags = 0
    for t, path in ns.items():
        if path == "" and t != "time":
            flags |= NS_FLAGS[t]
    # rootless: pyrunc, unprivileged, writes the init's id maps: the init stays dumpable
    # (its /proc files the caller's) until WAIT_GO
    plan.add("CLONE", flags, *(("dumpable",) if opt.rootless else ()))

    # --- stage 2: the container's init ---
    # Stage 2 waits until pyrunc has read stage 1's PID line (so that its own lines cannot
    # overtake it) and, in a new user namespace, has written the id maps.
    plan.add("WAIT_GO", 1 if userns else 0)
    plan.add("SETSID")
    if not opt.no_new_keyring:
        plan.add("KEYRING", f"_ses.{opt.cid}")
    for key, value in (linux.get("sysctl") or {}).items():
        plan.add("PROC_WRITE", sysctl_path(key), value)
    if opt.fifo is not None:
        plan.add("EXECFIFO", opt.fifo)

    prop = linux.get("rootfsPropagation")
    root_flag = mo.PROPAGATION[prop] if prop else mo.MS_SLAVE | mo.MS_REC
    shared_mnt = "mount" not in ns
    if shared_mnt:
        plan.add("ROOTFS", rootfs, "shared")
    else:
        # "/" itself may not be shared for pivot_root, nor unbindable for the bind of the
        # rootfs: those are set on the new root after pivot_root
        host_flag = root_flag
        if root_flag & (mo.MS_SHARED | mo.MS_UNBINDABLE):
            host_flag = mo.MS_SLAVE | mo.MS_REC
        plan.add("PROPAGATION", "/", host_flag)
        plan.add("ROOTFS", rootfs)

    dev_bound = False
    for i, m in enumerate(cfg.get("mounts") or ()):
        dev_bound |= _mount(plan, m, i, cfg, opt, userns, ns)
    if proc["cwd"] != "/":
        plan.add("MKDIR", clean(proc["cwd"]), 0o755)

    if not dev_bound:
        _devices(plan, linux, userns)
    if proc.get("terminal"):
        size = proc.get("consoleSize") or {}
        plan.add("CONSOLE", opt.console_socket, size.get("height", 0), size.get("width", 0))
    hooks = cfg.get("hooks") or {}
    if any(hooks.get(k) for k in ("prestart", "createRuntime", "createContainer", "startContainer")):
        # pyrunc runs prestart and createRuntime hooks (runtime namespace) when the init
        # says HOOKS, then sends the state that the init's own hooks read on stdin.
        plan.add("SYNC_HOOKS")
    # createContainer: in the container's namespaces, before pivot_root (paths resolve on
    # the host side, as under runc); cwd the bundle, as runc's
    _hook_ops(plan, "createContainer", hooks.get("createContainer"), opt.bundle)
    for p in linux.get("maskedPaths") or ():
        plan.add("MASK", clean(p))
    for p in linux.get("readonlyPaths") or ():
        plan.add("READONLY", clean(p))
    if cfg["root"].get("readonly"):
        plan.add("ROOT_READONLY")
    plan.add("PIVOT", "jail" if shared_mnt else "chroot" if opt.no_pivot else "pivot")
    if prop:
        plan.add("ROOT_PROPAGATION", root_flag)
    if cfg.get("hostname"):
        plan.add("HOSTNAME", cfg["hostname"])
    if cfg.get("domainname"):
        plan.add("DOMAINNAME", cfg["domainname"])
    for r in proc.get("rlimits") or ():
        plan.add("RLIMIT", RLIMITS[r["type"]], r["soft"], r["hard"])

    sc = linux.get("seccomp")
    no_setgroups = False
    if opt.rootless:
        from .rootless import groups_denied
        no_setgroups = groups_denied(linux)
    _process_ops(plan, proc, sc, no_setgroups)
    notify = False
    if sc:
        from .seccomp import notifies
        notify = notifies(sc)
    if notify:
        # the notify fd goes to the agent through pyrunc, which is `create` now and gone
        # at `start`: loaded before READY (as runc does in every case)
        _seccomp_op(plan, sc)
    plan.add("READY")
    if opt.fifo is not None:
        plan.add("WAIT_START")
        # startContainer: in the container, after `start`, before the program (paths
        # resolve in the container)
        _hook_ops(plan, "startContainer", hooks.get("startContainer"), "")
    _lsm_ops(plan, proc)
    if not notify:
        _seccomp_op(plan, sc)
    env = (proc.get("env") or []) + list(opt.extra_env)
    plan.add("EXEC", opt.preserve_fds, len(proc["args"]), *proc["args"], "", *env)
    return plan


def _lsm_ops(plan, proc):
    """AppArmor profile / SELinux label of the program: set for the next execve, after the
    startContainer hooks (which must not run under it)."""
    if proc.get("apparmorProfile") or proc.get("selinuxLabel"):
        from .lsm import exec_ops
        exec_ops(plan, proc)


def _seccomp_op(plan, sc):
    """The filter, loaded last (right before execve) so that pyrunc's own setup is not
    filtered."""
    if sc:
        from .seccomp import compile_filter
        prog, flags = compile_filter(sc)
        plan.add("SECCOMP", prog.hex(), flags)


def _process_ops(plan, proc, sc=None, no_setgroups=False):
    """Credentials, limits and the program lookup of a process (create and exec).
    no_setgroups: the user namespace denies setgroups (a rootless single-id gid map)."""
    if "oomScoreAdj" in proc and proc["oomScoreAdj"] is not None:
        plan.add("PROC_WRITE", "self/oom_score_adj", str(proc["oomScoreAdj"]))
    c = proc.get("capabilities")
    if c is not None:
        plan.add("CAPS", *("0x%x" % caps.mask(c.get(k), k)
                           for k in ("bounding", "effective", "permitted", "inheritable", "ambient")))
    user = proc["user"]
    groups = ",".join(str(g) for g in user.get("additionalGids") or ())
    if no_setgroups and not groups:
        groups = "-"  # leave them: setgroups(2) is denied
    # loading a filter without no_new_privs needs CAP_SYS_ADMIN: keep it until then
    defer = ("defer",) if sc and not proc.get("noNewPrivileges") else ()
    plan.add("USER", user["uid"], user["gid"], groups, *defer)
    plan.add("UMASK", user.get("umask", 0o022))
    if proc.get("noNewPrivileges"):
        plan.add("NNP")
    plan.add("CWD", proc["cwd"])
    env = proc.get("env") or []
    path = next((e[5:] for e in reversed(env) if e.startswith("PATH=")), None)
    plan.add("LOOKUP", proc["args"][0], path if path is not None else "/usr/local/bin:/usr/bin:/bin")


def _hook_ops(plan, kind, hooks, cwd):
    for i, h in enumerate(hooks or ()):
        args = h.get("args") or [h["path"]]
        plan.add("HOOK", f"error running {kind} hook #{i}", h["path"], cwd, h.get("timeout") or 0,
                 len(args), *args, "", *(h.get("env") or ()))


def _cgroup_join(plan, paths):
    """The executor joins the container's cgroups itself (docs/performance.md: a process
    moving itself in a v1 hierarchy avoids an RCU grace period); v2: at the CLONE."""
    if paths:
        plan.add("CGROUP_JOIN", *(("v2:" if key == "unified" else "v1:") + path
                                  for key, path in paths.items()))


NS_FILES = {"mount": "mnt", "network": "net", "uts": "uts", "ipc": "ipc", "user": "user",
            "pid": "pid", "cgroup": "cgroup", "time": "time"}


def compile_exec_plan(proc, ns_fds, opt, userns, cid, sc=None, no_setgroups=False):
    """The plan of `exec`: join the container's namespaces (ns_fds: type -> inherited fd,
    in joining order),
    then run proc as the container's init was run, without building anything."""
    plan = Plan()
    _cgroup_join(plan, opt.cgroup_paths)
    for t, fd in ns_fds.items():  # already in the order to join them
        if t in NS_FLAGS:
            plan.add("SETNS_FD", fd, NS_FLAGS[t])
    plan.add("CLONE", 0)  # into the joined pid and time namespaces
    plan.add("WAIT_GO", 1 if userns else 0)
    plan.add("SETSID")
    if opt.shared_rootfs:
        # the container shares the runtime's mount namespace: its root is a chroot
        plan.add("ROOTFS", opt.shared_rootfs, "shared")
        plan.add("PIVOT", "jail")
    else:
        plan.add("ROOT_CURRENT")
    if not opt.no_new_keyring:
        plan.add("KEYRING", f"_ses.{cid}")
    if proc.get("terminal"):
        size = proc.get("consoleSize") or {}
        plan.add("CONSOLE", opt.console_socket, size.get("height", 0), size.get("width", 0), "exec")
    for r in proc.get("rlimits") or ():
        plan.add("RLIMIT", RLIMITS[r["type"]], r["soft"], r["hard"])
    _process_ops(plan, proc, sc, no_setgroups)
    _lsm_ops(plan, proc)
    _seccomp_op(plan, sc)  # the container's filter applies to every process in it
    # no READY: the sync pipe closes at execve, which tells pyrunc the exec happened
    env = proc.get("env") or []
    plan.add("EXEC", opt.preserve_fds, len(proc["args"]), *proc["args"], "", *env)
    return plan


def _mount(plan, m, i, cfg, opt, userns, ns):
    """Add the ops of one mounts[] entry; True when it bind-mounts /dev."""
    where = f"mounts[{i}]"
    dst = clean(m["destination"])
    p = mo.parse(m.get("options"), f"{where}.options")
    mtype = m.get("type") or ""
    src = m.get("source") or ""
    if mtype == "bind":
        p.flags |= mo.MS_BIND
    if mtype == "cgroup":
        _cgroup_mount(plan, dst, p, opt, ns)
        return False
    if p.flags & mo.MS_BIND:
        if not src:
            raise PyruncError(f"config.json: {where}: a bind mount needs a source")
        if not src.startswith("/"):
            src = os.path.join(opt.bundle, src)
        try:
            st = os.stat(src)
        except OSError as e:
            raise PyruncError(f"config.json: {where}: bind source {src}: {e.strerror}")
        import stat
        kind = "d" if stat.S_ISDIR(st.st_mode) else "f"
        aset, aclr = mo.bind_attrs(p)
        if p.idmap or m.get("uidMappings") or m.get("gidMappings"):
            src = "@%d" % _idmapped_tree(src, m, p, cfg, opt, ns, where)
        plan.add("MOUNT", src, dst, "", p.flags & (mo.MS_BIND | mo.MS_REC), "", kind, p.prop,
                 aset, aclr, p.rset, p.rclr)
        return dst == "/dev"
    if p.idmap or m.get("uidMappings") or m.get("gidMappings"):
        raise PyruncError(f"config.json: {where}: id-mapped mounts are only supported for bind mounts")
    if not mtype:
        raise PyruncError(f"config.json: {where}: mount type is required unless the mount is a bind")
    flags = p.flags & ~mo.MS_BIND
    data = p.data
    label = (cfg.get("linux") or {}).get("mountLabel")
    if label and opt.mount_label:  # None where SELinux is not enabled (check_mount_label)
        from .lsm import mount_data
        data = mount_data(data, label)
    plan.add("MOUNT", src or mtype, dst, mtype, flags, data, "d", p.prop, 0, 0, p.rset, p.rclr)
    return False


def _idmapped_tree(src, m, p, cfg, opt, ns, where):
    """An idmapped bind (options idmap/ridmap, or the mount's own uid/gidMappings), made
    here as root on the host: the detached tree's fd, passed to the executor, which only
    moves it into place.  Without mappings of its own the mount takes the container's
    (a new user namespace's maps, or the joined one), as runc."""
    from ._native import lib
    from .launch import id_map_text, inheritable_at
    linux = cfg.get("linux") or {}
    if m.get("uidMappings") or m.get("gidMappings"):
        if not m.get("uidMappings") or not m.get("gidMappings"):
            raise PyruncError(f"config.json: {where}: an id-mapped mount needs both uidMappings and gidMappings")
        userns = lib.pyrunc_userns_fd(id_map_text(m["uidMappings"]).encode(), id_map_text(m["gidMappings"]).encode())
    elif ns.get("user") == "":
        userns = lib.pyrunc_userns_fd(id_map_text(linux["uidMappings"]).encode(),
                                      id_map_text(linux["gidMappings"]).encode())
    elif ns.get("user"):
        try:
            userns = os.open(ns["user"], os.O_RDONLY | os.O_CLOEXEC)
        except OSError as e:
            raise PyruncError(f"config.json: {where}: open the user namespace {ns['user']}: {e.strerror}")
    else:
        raise PyruncError(f"config.json: {where}: option idmap without uidMappings/gidMappings needs a user namespace")
    if userns < 0:
        raise PyruncError(f"config.json: {where}: make the user namespace of the id mapping: {os.strerror(-userns)}")
    try:
        fd = lib.pyrunc_idmapped_tree(src.encode(), userns, 1 if p.flags & mo.MS_REC else 0,
                                      1 if p.idmap == mo.IDMAP["ridmap"] else 0)
    finally:
        os.close(userns)
    if fd < 0:
        raise PyruncError(f"config.json: {where}: id-mapped mount of {src}: {os.strerror(-fd)}")
    fd = inheritable_at(fd, 3 + opt.preserve_fds)
    opt.passed_fds.append(fd)
    return fd


def _cgroup_mount(plan, dst, p, opt, ns):
    """The cgroup filesystem inside the container, for the host's layout."""
    from . import cgroups
    hs = cgroups.probe()
    ro = bool(p.flags & mo.MS_RDONLY)
    base = p.flags & (mo.MS_NOSUID | mo.MS_NODEV | mo.MS_NOEXEC | mo.MS_RELATIME)
    fresh = ns.get("cgroup") == "" and ns.get("user") != ""
    paths = opt.cgroup_paths
    if cgroups.layout(hs) == "v2":
        h = hs[0]
        if fresh:
            plan.add("MOUNT", "cgroup2", dst, "cgroup2", base | (mo.MS_RDONLY if ro else 0), "", "d",
                     p.prop, 0, 0, p.rset, p.rclr)
        else:
            plan.add("MOUNT", paths.get(h.key, h.mountpoint), dst, "", mo.MS_BIND | mo.MS_REC, "", "d",
                     p.prop, mo.A_RDONLY if ro else 0, 0, p.rset, p.rclr)
        return
    plan.add("MOUNT", "tmpfs", dst, "tmpfs", base, "mode=755", "d", p.prop, 0, 0, 0, 0)
    for h in hs:
        sub = dst + "/" + os.path.basename(h.mountpoint)
        if fresh:
            data = "" if h.version == 2 else ",".join(h.controllers)
            plan.add("MOUNT", "cgroup", sub, "cgroup2" if h.version == 2 else "cgroup",
                     base | (mo.MS_RDONLY if ro else 0), data, "d", 0, 0, 0, 0, 0)
        else:
            src = paths.get(h.key)
            if not src:
                continue
            plan.add("MOUNT", src, sub, "", mo.MS_BIND | mo.MS_REC, "", "d", 0,
                     (mo.A_RDONLY if ro else 0) | mo.A_NOSUID | mo.A_NODEV | mo.A_NOEXEC, 0, 0, 0)
    if ro:
        plan.add("READONLY", dst)


def _devices(plan, linux, userns):
    devs = {}
    for path, t, major, minor in DEFAULT_DEVICES:
        devs[path] = {"path": path, "type": t, "major": major, "minor": minor,
                      "fileMode": 0o666, "uid": 0, "gid": 0}
    for d in linux.get("devices") or ():
        devs[clean(d["path"])] = dict(d, path=clean(d["path"]))
    for d in devs.values():
        mode = d.get("fileMode", 0o666)
        if userns:
            plan.add("BINDDEV", d["path"], d["path"])
        else:
            plan.add("MKNOD", d["path"], d["type"], d.get("major", 0), d.get("minor", 0), mode,
                     d.get("uid", 0), d.get("gid", 0))
    for target, link in DEFAULT_LINKS:
        plan.add("SYMLINK", target, link)
    if os.path.exists("/proc/kcore"):
        plan.add("SYMLINK", "/proc/kcore", "/dev/core")
    plan.add("SYMLINK", "pts/ptmx", "/dev/ptmx", "replace")

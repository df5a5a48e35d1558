"""The container model → the plan that pyrunc-init executes (docs/plan.md).

`compile_create(spec, host, inputs)` and `compile_exec(proc, host, inputs)` are pure: they
read the model (config.Spec, config.Process), the host's facts (host.Host) and what the
calling operation opened or decided (`Inputs`), and return a plan.Plan.  They create
nothing, open nothing and write nothing, so the tests compile plans on any machine.
Every decision about how a container is built is made here.
"""

from .config import sysctl_path
from .errors import ConfigError
from .plan import PIVOT_MODES, Plan

NS_FLAGS = {
    "mount": 0x00020000, "uts": 0x04000000, "ipc": 0x08000000, "user": 0x10000000,
    "pid": 0x20000000, "network": 0x40000000, "cgroup": 0x02000000, "time": 0x00000080,
}
NS_FILES = {"mount": "mnt", "network": "net", "uts": "uts", "ipc": "ipc", "user": "user",
            "pid": "pid", "cgroup": "cgroup", "time": "time"}
# joined in this order: the user namespace first (it owns the others), mount last (after
# it, host paths would be looked up in the joined namespace)
JOIN_ORDER = ("user", "cgroup", "ipc", "uts", "network", "pid", "time", "mount")

DEFAULT_DEVICES = [  # path, type, major, minor
    ("/dev/null", "c", 1, 3), ("/dev/zero", "c", 1, 5), ("/dev/full", "c", 1, 7),
    ("/dev/random", "c", 1, 8), ("/dev/urandom", "c", 1, 9), ("/dev/tty", "c", 5, 0),
]
DEFAULT_LINKS = [("/proc/self/fd", "/dev/fd"), ("/proc/self/fd/0", "/dev/stdin"),
                 ("/proc/self/fd/1", "/dev/stdout"), ("/proc/self/fd/2", "/dev/stderr")]


class Inputs:
    """What the operation adds to the model: the command line, the descriptors it opened for
    the executor, the decisions it made on the host (cgroups, an LSM's availability)."""
    __slots__ = ("cid", "fifo_fd", "console_socket", "console_fd", "no_pivot", "no_new_keyring",
                 "preserve_fds", "extra_env", "rootless", "no_setgroups", "cgroup_join",
                 "cgroup_mounts", "tree_fds", "mount_label", "shared_rootfs", "seccomp", "runtime_env", "hold",
                 "personality", "memory_policy")

    def __init__(self, cid="", **kw):
        self.cid = cid
        self.fifo_fd = None
        self.console_socket = None   # a path the executor connects to
        self.console_fd = -1         # or a socket pyrunc connected (exec)
        self.no_pivot = self.no_new_keyring = self.rootless = self.no_setgroups = False
        self.preserve_fds = 0
        self.extra_env = ()
        self.cgroup_join = []        # [(version, directory)]
        self.cgroup_mounts = {}      # hierarchy key -> the container's directory
        self.tree_fds = {}           # mount index -> fd of a bind tree pyrunc made (idmapped, or
        #                              for a new user namespace, opened with the host's rights)
        self.runtime_env = []        # pyrunc's environment: hooks without env of their own get it
        self.mount_label = None      # linux.mountLabel where SELinux can use it
        self.shared_rootfs = ""      # exec into a container without a mount namespace
        self.seccomp = None          # exec: the container's linux.seccomp document
        self.hold = False            # HOLD first: pyrunc puts the executor in a systemd unit
        self.personality = None      # exec: the container's linux.personality (personality(2)'s value)
        self.memory_policy = None    # exec: the container's linux.memoryPolicy ((mode, [nodes]))
        for k, v in kw.items():
            setattr(self, k, v)


def compile_create(spec, host, inp):
    """The plan for creating this container."""
    from . import mountopts as mo  # here: exec's plans have no mounts
    plan = Plan()
    proc = spec.process
    ns = spec.namespaces
    userns = spec.has_ns("user")  # new or joined

    # --- stage 1: join the cgroups (host paths: first), join namespaces, then clone into
    # the new ones ---
    if inp.hold:
        plan.add("HOLD")  # until systemd has put this process in the container's unit
    _cgroup_join(plan, inp.cgroup_join)
    for t in JOIN_ORDER:
        if ns.get(t):
            plan.add("SETNS", ns[t], NS_FLAGS[t], field="linux.namespaces")
    if spec.new_ns("time"):
        off = spec.time_offsets
        text = "".join(f"{k} {off[k].get('secs', 0)} {off[k].get('nanosecs', 0)}\n"
                       for k in ("monotonic", "boottime") if k in off)
        plan.add("TIMENS", text or "monotonic 0 0\n", field="linux.timeOffsets")
    flags = 0
    for t, path in ns.items():
        if path == "" and t != "time":
            flags |= NS_FLAGS[t]
    # rootless: pyrunc, unprivileged, writes the init's id maps: the init stays dumpable
    # (its /proc files the caller's) until WAIT_GO
    plan.add("CLONE", flags, 1 if inp.rootless else 0, field="linux.namespaces")

    # --- stage 2: the container's init ---
    # Stage 2 waits until pyrunc has read stage 1's PID line (so that its own lines cannot
    # overtake it) and, in a new user namespace, has written the id maps.  In a user
    # namespace, new or joined, it then becomes the namespace's root (the host's root is
    # unmapped there: files it made would fail with EOVERFLOW).
    plan.add("WAIT_GO", 1 if spec.has_ns("user") else 0)
    plan.add("SETSID")
    if not inp.no_new_keyring:
        plan.add("KEYRING", f"_ses.{inp.cid}")
    for key, value in spec.sysctl.items():
        plan.add("PROC_WRITE", sysctl_path(key), value, field=f"linux.sysctl.{key}")
    if inp.fifo_fd is not None:
        plan.add("EXECFIFO", inp.fifo_fd)

    prop = spec.rootfs_propagation
    root_flag = mo.PROPAGATION[prop] if prop else mo.MS_SLAVE | mo.MS_REC
    shared_mnt = not spec.has_ns("mount")
    if shared_mnt:
        plan.add("ROOTFS", spec.root_path, 1, field="root.path")
    else:
        # "/" itself may not be shared for pivot_root, nor unbindable for the bind of the
        # rootfs: those are set on the new root after pivot_root
        host_flag = root_flag
        if root_flag & (mo.MS_SHARED | mo.MS_UNBINDABLE):
            host_flag = mo.MS_SLAVE | mo.MS_REC
        plan.add("PROPAGATION", "/", host_flag)
        plan.add("ROOTFS", spec.root_path, 0, field="root.path")

    dev_bound = False
    later_ro = []  # read-only mounts, made read-only once everything under them exists
    for m in spec.mounts:
        dev_bound |= _mount(plan, m, spec, host, inp, later_ro)
    if proc.cwd != "/":
        plan.add("MKDIR", _clean(proc.cwd), 0o755, field="process.cwd")

    if not dev_bound:
        _devices(plan, spec, host, userns)
    if proc.terminal:
        h, w = proc.console_size or (0, 0)
        plan.add("CONSOLE", inp.console_socket or "", inp.console_fd, h, w, 0, field="process.terminal")
    hooks = spec.hooks
    if any(hooks[k] for k in ("prestart", "createRuntime", "createContainer", "startContainer")):
        # pyrunc runs prestart and createRuntime hooks (runtime namespace) when the init
        # says HOOKS, then sends the state that the init's own hooks read on stdin.
        plan.add("SYNC_HOOKS")
    # createContainer: in the container's namespaces, before pivot_root (paths resolve on
    # the host side); cwd the container's rootfs, as runc's
    _hook_ops(plan, "createContainer", hooks["createContainer"], spec.root_path, inp.runtime_env)
    for dst, recursive, field in later_ro:
        plan.add("READONLY", dst, 1 if recursive else 0, field=field)
    for p in spec.masked_paths:
        plan.add("MASK", p, field="linux.maskedPaths")
    for p in spec.readonly_paths:
        plan.add("READONLY", p, 1, field="linux.readonlyPaths")
    if spec.root_readonly:
        plan.add("ROOT_READONLY", field="root.readonly")
    mode = "jail" if shared_mnt else "move" if inp.no_pivot else "pivot"
    plan.add("PIVOT", PIVOT_MODES[mode])
    plan.add("DEVNULL")  # stdio on the host's /dev/null: the container's instead (as runc)
    if prop:
        plan.add("ROOT_PROPAGATION", root_flag, field="linux.rootfsPropagation")
    if spec.hostname:
        plan.add("HOSTNAME", spec.hostname, field="hostname")
    if spec.domainname:
        plan.add("DOMAINNAME", spec.domainname, field="domainname")
    if spec.personality is not None:
        plan.add("PERSONALITY", spec.personality, field="linux.personality")
    _mempolicy_op(plan, spec.memory_policy)
    _rlimit_ops(plan, proc)

    sc = spec.seccomp
    _process_ops(plan, proc, sc, inp.no_setgroups)
    # As runc: the LSM of the program and the seccomp filter are set before READY, so the
    # startContainer hooks run under them too; the filter is loaded last but for what the
    # container's start needs (the exec fifo, the hooks), and a notify fd goes to its agent
    # through pyrunc, which is `create` now and gone at `start`.
    _lsm_ops(plan, proc, host)
    _seccomp_op(plan, sc)
    plan.add("READY")
    if inp.fifo_fd is not None:
        plan.add("WAIT_START")
        # startContainer: in the container, after `start`, before the program (paths
        # resolve in the container); without env of their own they get the process's, as runc
        _hook_ops(plan, "startContainer", hooks["startContainer"], "", proc.env)
    _exec_op(plan, proc, inp, extra_env=inp.extra_env)
    return plan


def compile_exec(proc, host, inp, ns_fds, userns):
    """The plan of `exec`: join the container's namespaces (ns_fds: type -> inherited fd,
    in joining order), then run proc as the container's init was run, building nothing.
    host may be None: this call's Host is then asked only if the plan needs it."""
    plan = Plan()
    initial, final = proc.exec_cpu_affinity
    if initial:  # the executor's, before it joins the container's cgroup
        plan.add("AFFINITY", ",".join(map(str, initial)), field="process.execCPUAffinity.initial")
    _cgroup_join(plan, inp.cgroup_join)
    for t, fd in ns_fds.items():  # already in the order to join them
        if t in NS_FLAGS and t != "cgroup":
            plan.add("SETNS_FD", fd, NS_FLAGS[t])
    plan.add("CLONE", 0, 0)  # into the joined pid and time namespaces, and the cgroup (v2)
    if "cgroup" in ns_fds:
        # the cgroup namespace once in the container's cgroup: the kernel refuses to move a
        # process (CLONE_INTO_CGROUP too) from a cgroup outside its namespace's root (ENOENT)
        plan.add("SETNS_FD", ns_fds["cgroup"], NS_FLAGS["cgroup"])
    plan.add("WAIT_GO", 1 if userns else 0)
    plan.add("SETSID")
    if inp.shared_rootfs:
        # the container shares the runtime's mount namespace: its root is a chroot
        plan.add("ROOTFS", inp.shared_rootfs, 1)
        plan.add("PIVOT", PIVOT_MODES["jail"])
    else:
        plan.add("ROOT_CURRENT")
    if not inp.no_new_keyring:
        plan.add("KEYRING", f"_ses.{inp.cid}")
    if proc.terminal:
        h, w = proc.console_size or (0, 0)
        plan.add("CONSOLE", inp.console_socket or "", inp.console_fd, h, w, 1, field="process.terminal")
    if inp.personality is not None:  # the container's, as runc's exec
        plan.add("PERSONALITY", inp.personality, field="linux.personality")
    _mempolicy_op(plan, inp.memory_policy)
    _rlimit_ops(plan, proc)
    _process_ops(plan, proc, inp.seccomp, inp.no_setgroups)
    if final:  # in the container's cgroup; unset: what the kernel made of it there (the spec)
        plan.add("AFFINITY", ",".join(map(str, final)), field="process.execCPUAffinity.final")
    _lsm_ops(plan, proc, host)
    _seccomp_op(plan, inp.seccomp)  # the container's filter applies to every process in it
    # no READY: the sync pipe closes at execve, which tells pyrunc the exec happened
    _exec_op(plan, proc, inp)
    return plan


def _clean(path):
    from .config import clean
    return clean(path)


def _exec_op(plan, proc, inp, extra_env=()):
    env = proc.env + list(extra_env)
    plan.add("EXEC", inp.preserve_fds, len(proc.args), *proc.args, "", *env, field="process.args")


def _mempolicy_op(plan, mp):
    if mp is not None:
        plan.add("MEMPOLICY", mp[0], ",".join(map(str, mp[1])), field="linux.memoryPolicy")


def _rlimit_ops(plan, proc):
    for i, r in enumerate(proc.rlimits):
        plan.add("RLIMIT", r.number, r.soft, r.hard, field=f"process.rlimits[{i}]")


def _lsm_ops(plan, proc, host):
    """AppArmor profile / SELinux label of the program: set for the next execve, after the
    startContainer hooks (which must not run under it)."""
    if proc.apparmor_profile:
        if host is None:
            from .host import host as this_host
            host = this_host()
        plan.add("PROC_WRITE", f"thread-self/attr/{host.apparmor_attr}", f"exec {proc.apparmor_profile}",
                 field="process.apparmorProfile")
    if proc.selinux_label:
        plan.add("PROC_WRITE", "thread-self/attr/exec", proc.selinux_label, field="process.selinuxLabel")


def _seccomp_op(plan, sc):
    """The filter, loaded last (right before execve) so that pyrunc's own setup is not
    filtered."""
    if sc:
        from .seccomp import compile_filter
        prog, flags = compile_filter(sc)
        plan.add("SECCOMP", prog.hex(), flags, field="linux.seccomp")


def _process_ops(plan, proc, sc=None, no_setgroups=False):
    """Credentials, limits and the program lookup of a process (create and exec).
    no_setgroups: the user namespace denies setgroups (a rootless single-id gid map)."""
    c = proc.capabilities
    if c is not None:
        plan.add("CAPS", *("0x%x" % m for m in c.masks()), field="process.capabilities")
    user = proc.user
    groups = ",".join(str(g) for g in user.additional_gids)
    opts = 0
    if no_setgroups and not groups:
        opts |= 2  # KEEP_GROUPS: leave them, setgroups(2) is denied
    # loading a filter without no_new_privs needs CAP_SYS_ADMIN: keep it until then
    if sc and not proc.no_new_privileges:
        opts |= 1  # DEFER
    # before the credentials change: a real-time class or policy needs privileges the
    # process may not keep
    if proc.io_priority is not None:
        plan.add("IOPRIO", proc.io_priority, field="process.ioPriority")
    if proc.scheduler is not None:
        plan.add("SCHED", *proc.scheduler, field="process.scheduler")
    if not any(e.startswith("HOME=") for e in proc.env):
        plan.add("HOME", user.uid, field="process.env")  # from /etc/passwd, as runc
    # the cwd before the uid changes, as runc: a directory root can enter and the user
    # cannot is still the process's cwd
    plan.add("CWD", proc.cwd, field="process.cwd")
    plan.add("USER", user.uid, user.gid, groups, opts, field="process.user")
    plan.add("UMASK", user.umask, field="process.user.umask")
    if proc.no_new_privileges:
        plan.add("NNP")
    # as runc (Go's LookPath): a bare name is looked up in the process's PATH, none if unset
    plan.add("LOOKUP", proc.args[0], proc.path_env() or "", field="process.args")


def _hook_ops(plan, kind, hooks, cwd, default_env):
    """Hooks the executor runs; without env of their own, default_env."""
    for i, h in enumerate(hooks):
        env = h.env if h.env is not None else default_env
        state = 1 if kind == "startContainer" else 0  # created / creating, as runc
        plan.add("HOOK", f"error running {kind} hook #{i}", state, h.path, cwd, h.timeout,
                 len(h.args), *h.args, "", *env, field=f"hooks.{kind}[{i}]")


def _cgroup_join(plan, join):
    for version, path in join:
        plan.add("CGROUP_JOIN", version, path, field="linux.cgroupsPath")


def _defer_read_only(later_ro, dst, where, top, rset):
    """A mount is made read-only last, once everything under it is mounted (as runc): note
    it in later_ro (top: the mount itself; rset's A_RDONLY: recursively) and return rset
    without it."""
    from .mountopts import A_RDONLY
    if top:
        later_ro.append((dst, False, where))
    if rset & A_RDONLY:
        later_ro.append((dst, True, where))
        rset &= ~A_RDONLY
    return rset


def _mount(plan, m, spec, host, inp, later_ro):
    """Add the ops of one mounts[] entry; True when it bind-mounts /dev.  A read-only mount is
    made writable and noted in later_ro: it becomes read-only once what must be created under
    it (mount points, devices, /dev/console) exists."""
    from . import mountopts as mo
    where = m.field
    dst = m.destination
    p = m.parsed
    mtype = m.type
    src = m.source
    if mtype == "cgroup":
        _cgroup_mount(plan, dst, p, spec, host, inp, where)
        return False
    if m.is_bind():
        flags = p.flags | mo.MS_BIND
        if not src:
            raise ConfigError("a bind mount needs a source", field=where, source="config.json")
        if not src.startswith("/"):
            import os
            src = os.path.join(spec.bundle, src)
        kind = host.path_kind(src, where)
        aset, aclr = mo.bind_attrs(p)
        rset = _defer_read_only(later_ro, dst, where, aset & mo.A_RDONLY, p.rset)
        aset &= ~mo.A_RDONLY
        src_fd = inp.tree_fds.get(m.index, -1)
        plan.add("MOUNT", src, src_fd, dst, "", flags & (mo.MS_BIND | mo.MS_REC), "", kind, p.prop,
                 aset, aclr, rset, p.rclr, 0, field=where)
        return dst == "/dev"
    if m.idmapped():
        raise ConfigError("id-mapped mounts are only supported for bind mounts", field=where,
                          source="config.json")
    if not mtype:
        raise ConfigError("mount type is required unless the mount is a bind", field=where,
                          source="config.json")
    flags = p.flags & ~mo.MS_BIND
    rset = _defer_read_only(later_ro, dst, where, flags & mo.MS_RDONLY, p.rset)
    flags &= ~mo.MS_RDONLY
    data = p.data
    if spec.mount_label and inp.mount_label:  # None where SELinux is not enabled
        from .lsm import mount_data
        data = mount_data(data, spec.mount_label)
    # tmpcopyup (podman's --tmpfs and --read-only): the tmpfs starts with what the directory held
    opts = 1 if p.copyup and mtype == "tmpfs" else 0
    plan.add("MOUNT", src or mtype, -1, dst, mtype, flags, data, "d", p.prop, 0, 0, rset, p.rclr, opts,
             field=where)
    return False


def _cgroup_mount(plan, dst, p, spec, host, inp, where):
    """The cgroup filesystem inside the container, for the host's layout."""
    import os

    from . import mountopts as mo
    hs = host.cgroup_hierarchies
    ro = bool(p.flags & mo.MS_RDONLY)
    base = p.flags & (mo.MS_NOSUID | mo.MS_NODEV | mo.MS_NOEXEC | mo.MS_RELATIME)
    fresh = spec.new_ns("cgroup") and spec.namespaces.get("user") != ""
    paths = inp.cgroup_mounts
    if host.cgroup_layout == "v2":
        h = hs[0]
        if fresh:
            plan.add("MOUNT", "cgroup2", -1, dst, "cgroup2", base | (mo.MS_RDONLY if ro else 0), "", "d",
                     p.prop, 0, 0, p.rset, p.rclr, 0, field=where)
        else:
            plan.add("MOUNT", paths.get(h.key, h.mountpoint), -1, dst, "", mo.MS_BIND | mo.MS_REC, "", "d",
                     p.prop, mo.A_RDONLY if ro else 0, 0, p.rset, p.rclr, 0, field=where)
        return
    plan.add("MOUNT", "tmpfs", -1, dst, "tmpfs", base, "mode=755", "d", p.prop, 0, 0, 0, 0, 0, field=where)
    for h in hs:
        sub = dst + "/" + os.path.basename(h.mountpoint)
        if fresh:
            data = "" if h.version == 2 else ",".join(h.controllers)
            plan.add("MOUNT", "cgroup", -1, sub, "cgroup2" if h.version == 2 else "cgroup",
                     base | (mo.MS_RDONLY if ro else 0), data, "d", 0, 0, 0, 0, 0, 0, field=where)
        else:
            src = paths.get(h.key)
            if not src:
                continue
            plan.add("MOUNT", src, -1, sub, "", mo.MS_BIND | mo.MS_REC, "", "d", 0,
                     (mo.A_RDONLY if ro else 0) | mo.A_NOSUID | mo.A_NODEV | mo.A_NOEXEC, 0, 0, 0, 0,
                     field=where)
    if ro:
        plan.add("READONLY", dst, 1, field=where)


def _devices(plan, spec, host, userns):
    devs = {}
    for path, t, major, minor in DEFAULT_DEVICES:
        devs[path] = (path, t, major, minor, 0o666, 0, 0, "linux.devices")
    for i, d in enumerate(spec.devices):
        devs[d.path] = (d.path, d.type, d.major, d.minor, d.file_mode, d.uid, d.gid, f"linux.devices[{i}]")
    # in a user namespace (the container's, or pyrunc's own: rootless podman's) devices
    # cannot be made: they are bound from the host's /dev, as runc does
    bind = userns or host.in_user_ns
    for path, t, major, minor, mode, uid, gid, field in devs.values():
        if bind:
            plan.add("BINDDEV", path, path, field=field)
        else:
            plan.add("MKNOD", path, t, major, minor, mode, uid, gid, field=field)
    for target, link in DEFAULT_LINKS:
        plan.add("SYMLINK", target, link, 0)
    if host.has_kcore:
        plan.add("SYMLINK", "/proc/kcore", "/dev/core", 0)
    plan.add("SYMLINK", "pts/ptmx", "/dev/ptmx", 1)

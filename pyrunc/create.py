"""create: build a container and leave its init waiting on the exec fifo.

On any failure, everything this call made is undone before the error is reported: the init
is killed, the cgroups and the state directory are removed.  A second create with an id
that exists fails before touching anything of the first container.
"""

import os
import time

from . import cgroups, specconv
from .errors import PyruncError
from .launch import Init, check_preserved, inheritable_at, set_subreaper, write_id_maps, write_pid_file
from .log import log
from .state import Container, check_id, proc_stat


def _rfc3339(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%09dZ" % int((t % 1) * 1e9)


def listen_fds():
    """How many fds systemd socket activation passed us (LISTEN_FDS for our pid), as runc."""
    n = os.environ.get("LISTEN_FDS")
    if not n or os.environ.get("LISTEN_PID") != str(os.getpid()):
        return 0
    try:
        return max(int(n), 0)
    except ValueError:
        return 0


def create(a, console_socket=None, cfg=None):
    """Create container a.id from the bundle; returns the Container (state saved)."""
    check_id(a.id)
    from .rootless import is_rootless
    rootless = is_rootless(a.rootless_mode)
    preserve = a.preserve_fds or 0
    if preserve < 0:
        raise PyruncError("--preserve-fds must not be negative")
    # socket activation: fds 3..3+L-1 pass first, renumbered as they are, and the process
    # learns of them by LISTEN_FDS=L LISTEN_PID=1; --preserve-fds N keeps the next N
    listen = listen_fds()
    extra_env = (f"LISTEN_FDS={listen}", "LISTEN_PID=1") if listen else ()
    preserve += listen
    check_preserved(preserve)
    bundle = os.path.abspath(a.bundle or ".")
    if not os.path.isdir(bundle):
        raise PyruncError(f"bundle {bundle} is not a directory")
    cfg = cfg or specconv.load(bundle)
    if rootless:
        from . import rootless as rl
        rl.check(cfg, specconv.namespaces(cfg))
    rootfs = specconv.rootfs_path(cfg, bundle)
    if not os.path.isdir(rootfs):
        raise PyruncError(f"rootfs ({rootfs}) does not exist or is not a directory")
    terminal = bool(cfg["process"].get("terminal"))
    console_socket = console_socket or a.console_socket
    if terminal and not console_socket:
        raise PyruncError("process.terminal is true: --console-socket is required")
    if console_socket and not terminal:
        raise PyruncError("--console-socket given but process.terminal is false")
    if console_socket:
        console_socket = os.path.abspath(console_socket)

    # As a subreaper, this process inherits the init when the executor's first stage exits:
    # a failed create then reaps it itself, leaving not even a zombie.  On success the init
    # passes on to our own parent's subreaper (conmon, the shim) or pid 1 when we exit.
    set_subreaper()
    os.makedirs(a.root, 0o711, exist_ok=True)
    c = Container(a.root, a.id)
    try:
        os.mkdir(c.dir, 0o711)
    except FileExistsError:
        raise PyruncError(f"container with id {a.id!r} already exists")
    except OSError as e:
        raise PyruncError(f"cannot create the state directory {c.dir}: {e.strerror}")
    init = None
    fifo_fd = -1
    cg = None
    shared_mounts = None
    try:
        c.lock()
        linux = cfg.get("linux") or {}
        cg_paths = cgroups.paths_for(linux.get("cgroupsPath"), a.id)
        if rootless:
            cg_paths = rl.usable_cgroups(cg_paths, linux.get("resources"))
        cg = cgroups.create(cg_paths, linux)
        os.mkfifo(c.fifo, 0o622)
        os.chmod(c.fifo, 0o622)  # writable by the container's user, whatever our umask
        # the init gets an O_PATH descriptor: it needs no access to the state directory
        fifo_fd = inheritable_at(os.open(c.fifo, os.O_PATH | os.O_CLOEXEC), 3 + preserve)
        opt = specconv.Options(bundle, fifo=fifo_fd, console_socket=console_socket,
                               no_pivot=a.no_pivot, no_new_keyring=a.no_new_keyring,
                               preserve_fds=preserve, cgroup_paths=cg_paths, cid=a.id,
                               extra_env=extra_env, rootless=rootless)
        if "mount" not in specconv.namespaces(cfg):
            # the runtime's mount namespace is the container's: note what is there now
            from . import hostmounts
            shared_mounts = {"rootfs": rootfs, "before": sorted(hostmounts.under(rootfs))}
        try:
            plan = specconv.compile_plan(cfg, opt)
            if log.debug_on:
                log.debug("plan:\n" + plan.describe())
            init = Init(plan.encode(), preserve)
        finally:
            for fd in opt.passed_fds:  # the executor has its copies
                os.close(fd)
        os.close(fifo_fd)
        fifo_fd = -1
        pid = init.wait_pid()
        cg.release()  # the init is in its cgroups (the executor joined them)
        if rootless:
            rl.write_id_maps(pid, linux)
        elif specconv.namespaces(cfg).get("user") == "":
            write_id_maps(pid, cfg)
        init.go()
        hooks = cfg.get("hooks") or {}

        def on_hooks():
            from . import hooks as hk
            state = hk.state_json(a.id, "created", pid, bundle, cfg.get("annotations"))
            # prestart (deprecated) and createRuntime: the runtime namespace, cwd the bundle
            hk.run("prestart", hooks.get("prestart"), state, bundle)
            hk.run("createRuntime", hooks.get("createRuntime"), state, bundle)
            return state

        def on_seccomp(fd):
            from . import SPEC_VERSION
            from .seccomp import send_listener
            state = {"ociVersion": SPEC_VERSION, "id": a.id, "status": "creating", "pid": pid,
                     "bundle": bundle, "annotations": cfg.get("annotations") or {}}
            send_listener(fd, pid, linux["seccomp"], state)
        init.wait_ready(on_hooks, on_seccomp)
        st = proc_stat(pid)
        if st is None:
            raise PyruncError("container init exited before it was ready")
        c.data = {
            "id": a.id, "pid": pid, "starttime": st[1], "bundle": bundle, "rootfs": rootfs,
            "created": _rfc3339(time.time()), "owner": "",
            "annotations": cfg.get("annotations") or {},
            "cgroups": cg_paths, "cgroups_created": cg.created,
            "no_new_keyring": bool(a.no_new_keyring),  # exec follows create's choice, as runc
            "shared_mounts": shared_mounts,
            "resources": linux.get("resources") or {}, "devices": linux.get("devices") or [],
            "config": {"process": cfg["process"], "hooks": cfg.get("hooks") or {},
                       "seccomp": linux.get("seccomp"),
                       "namespaces": (cfg.get("linux") or {}).get("namespaces") or []},
        }
        c.save()
        if a.pid_file:
            write_pid_file(a.pid_file, pid)
        return c
    except BaseException:
        if fifo_fd >= 0:
            os.close(fifo_fd)
        if init is not None:
            init.kill()
        if shared_mounts:
            from . import hostmounts
            hostmounts.detach_new(rootfs, shared_mounts["before"])
        if cg is not None:
            cg.undo()
        c.remove_dir()
        # as runc: a create that failed after the container began also runs poststop
        if init is not None and init.pid and (cfg.get("hooks") or {}).get("poststop"):
            from . import hooks as hk
            hk.run_all_logged("poststop", cfg["hooks"]["poststop"],
                              hk.state_json(a.id, "stopped", 0, bundle, cfg.get("annotations")),
                              bundle)
        raise

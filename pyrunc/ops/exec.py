"""exec: run a new process in a running container, as runc exec.

The process is pyrunc-init again, from its sealed copy: its first stage joins the
container's cgroups and every namespace of the container (opened from the init's
/proc/<pid>/ns while a pidfd pins the init), then clones into the joined pid and time
namespaces; the child takes the process's credentials, limits and cwd and execs.  pyrunc is
a child subreaper, so the process is re-parented to it when the first stage exits: without
detach it relays the terminal or forwards signals, waits, and exits with the process's
status, as run does.
"""

import os

from ..errors import PyruncError, StateError, UsageError


class Request:
    """What exec is asked: the process (a config.Process), and how to run it."""
    __slots__ = ("process", "console_socket", "pid_file", "detach", "preserve_fds", "ignore_paused", "stdio",
                 "pidfd_socket", "sub_cgroups")

    def __init__(self, process, console_socket=None, pid_file=None, detach=False, preserve_fds=0,
                 ignore_paused=False, stdio=None, pidfd_socket=None):
        self.stdio = stdio  # the Python API: the process's 0, 1, 2 (default: ours)
        self.pidfd_socket = pidfd_socket  # --pidfd-socket: receives a pidfd of the process
        self.sub_cgroups = ()  # exec --cgroup: "[controller,...:]path" of existing sub-cgroups
        self.process, self.console_socket, self.pid_file = process, console_socket, pid_file
        self.detach, self.preserve_fds, self.ignore_paused = bool(detach), preserve_fds or 0, bool(ignore_paused)


def sub_cgroup_join(c, specs):
    """The join list of exec --cgroup (runc 1.2): each "[ctrl1,ctrl2:]path" names an existing
    sub-cgroup of the container's, in the hierarchies of those v1 controllers, or in every
    hierarchy without controllers (the only form cgroup v2 takes)."""
    paths = (c.data.get("cgroup") or {}).get("paths") or {}
    everywhere, per = None, {}
    for spec in specs:
        ctrls, sep, path = spec.rpartition(":")
        rel = path.strip("/")
        if not rel or ".." in rel.split("/"):
            raise UsageError(f"--cgroup {spec!r}: want a sub-cgroup of the container's ([controllers:]path)")
        if sep and ctrls:
            for ctrl in ctrls.split(","):
                per[ctrl.strip()] = rel
        else:
            everywhere = rel
    if not paths:
        raise UsageError(f"--cgroup: container {c.id} has no cgroup")
    if per and list(paths) == ["unified"]:
        raise UsageError("--cgroup: controllers can only be named on cgroup v1; give the path alone")
    join = []
    for key, path in paths.items():
        rel = everywhere if key == "unified" else per.get(key, everywhere)
        d = os.path.join(path, rel) if rel else path
        if rel and not os.path.isdir(d):
            raise PyruncError(f"--cgroup: sub-cgroup {d} does not exist")
        join.append((2 if key == "unified" else 1, d))
    return join


def check_status(c, ignore_paused):
    status = c.status()
    if status == "stopped":
        raise StateError("cannot exec in a stopped container")
    if status == "paused" and not ignore_paused:
        raise StateError("cannot exec in a paused container (use --ignore-paused to override)")
    return status


def namespace_fds(c, low):
    """type -> fd of each namespace the container has (and we are not in), opened while a
    pidfd pins the init, so a recycled pid cannot give another process's namespaces."""
    import select

    from ..compiler import NS_FILES
    from ..fdutil import inheritable_at
    pidfd = c.pidfd()
    if pidfd is None:
        raise StateError("cannot exec in a stopped container")
    fds = {}
    try:
        for n in (c.data.get("config") or {}).get("namespaces") or ():
            t = n["type"]
            name = NS_FILES[t]
            try:
                fd = os.open(f"/proc/{c.pid}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC)
            except OSError as e:
                raise PyruncError(f"open the container's {t} namespace: {e.strerror}")
            mine = os.stat(f"/proc/self/ns/{name}")
            theirs = os.fstat(fd)
            if (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino):
                os.close(fd)  # the container shares ours: nothing to join
                continue
            fds[t] = inheritable_at(fd, low)
        fds = join_order(fds)
        p = select.poll()
        p.register(pidfd, select.POLLIN)
        if p.poll(0):
            raise StateError("cannot exec in a stopped container")
    except BaseException:
        for fd in fds.values():
            os.close(fd)
        raise
    finally:
        os.close(pidfd)
    return fds


def join_order(fds):
    """The namespaces in the order to join them: those the container's user namespace does
    not own (a time namespace made before it, a namespace joined by path) first, while we
    still have the host's capabilities; then the user namespace; then the rest, mount last
    (after it, host paths would resolve in the container)."""
    from ..compiler import JOIN_ORDER
    if "user" not in fds:
        return {t: fds[t] for t in JOIN_ORDER if t in fds}
    import fcntl
    user = os.fstat(fds["user"])
    before, after = {}, {}
    for t in JOIN_ORDER:
        if t not in fds or t == "user":
            continue
        try:
            owner_fd = fcntl.ioctl(fds[t], 0xB701)  # NS_GET_USERNS
        except OSError:
            after[t] = fds[t]
            continue
        owner = os.fstat(owner_fd)
        os.close(owner_fd)
        if (owner.st_dev, owner.st_ino) == (user.st_dev, user.st_ino):
            after[t] = fds[t]
        else:
            before[t] = fds[t]
    return {**before, "user": fds["user"], **after}


def _setgroups_denied(pid):
    """A rootless container with a single-id gid map cannot call setgroups(2)."""
    from ..fdutil import read_text
    return read_text(f"/proc/{pid}/setgroups") == "deny"


def _own_mount_ns(c):
    nss = (c.data.get("config") or {}).get("namespaces") or ()
    return any(n.get("type") == "mount" for n in nss)


def execute(c, req, status, console=None):
    """Start req.process in container c (locked; the lock is released before the process
    starts, so that a process started frozen does not block `resume`).  Returns its pid."""
    from ..compiler import Inputs, compile_exec
    from ..executor import Executor
    from ..fdutil import check_preserved, set_subreaper
    from ..log import log
    proc = req.process
    preserve = req.preserve_fds
    if preserve < 0:
        raise UsageError("--preserve-fds must not be negative")
    check_preserved(preserve)
    ns_fds = {}
    try:
        ns_fds = namespace_fds(c, 3 + preserve)
        console_fd = -1
        if console:
            console_fd = console.peer_fd(3 + preserve)
        elif req.console_socket:
            # connected here: the process looks for no host path once in the container
            from ..fdutil import connect_console
            console_fd = ns_fds["console"] = connect_console(os.path.abspath(req.console_socket), 3 + preserve)
        userns = "user" in ns_fds
        seccomp = (c.data.get("config") or {}).get("seccomp")
        join = sub_cgroup_join(c, req.sub_cgroups) if req.sub_cgroups else c.cgroup_join()
        inp = Inputs(c.id, console_fd=console_fd, no_new_keyring=bool(c.data.get("no_new_keyring")),
                     preserve_fds=preserve, cgroup_join=join,
                     shared_rootfs="" if _own_mount_ns(c) else c.data.get("rootfs", ""),
                     no_setgroups=userns and _setgroups_denied(c.data["pid"]), seccomp=seccomp,
                     personality=(c.data.get("config") or {}).get("personality"),
                     memory_policy=(c.data.get("config") or {}).get("memory_policy"))
        plan = compile_exec(proc, None, inp, {t: fd for t, fd in ns_fds.items() if t != "console"}, userns)
        if log.debug_on:
            log.debug("exec plan:\n" + plan.describe())
        set_subreaper()
        # not held while the process starts: in a paused container (--ignore-paused) it
        # waits, frozen, until `resume`, which needs the lock
        c.unlock()
        ex = Executor(plan, preserve, req.stdio)
        for fd in ns_fds.values():
            os.close(fd)
        ns_fds = {}
        if console:
            console.close_peer()
        try:
            pid = ex.wait_pid()
            if req.pidfd_socket:
                from ..fdutil import send_pidfd
                send_pidfd(os.path.abspath(req.pidfd_socket), pid, "setns")
            if proc.oom_score_adj is not None:
                from ..fdutil import write_oom_score_adj
                write_oom_score_adj(pid, proc.oom_score_adj)
            ex.go()

            def on_seccomp(fd):  # the container's state, the exec'd process's pid (as runc)
                from .. import SPEC_VERSION
                from ..seccomp import send_listener
                state = {"ociVersion": SPEC_VERSION, "id": c.id, "status": status,
                         "pid": c.data["pid"], "bundle": c.data.get("bundle", ""),
                         "annotations": c.data.get("annotations") or {}}
                send_listener(fd, pid, seccomp, state)
            ex.wait_exec(on_seccomp)
            if console:  # the init sent the pty before it exec'd
                console.receive()
        except BaseException:
            ex.kill()
            raise
    finally:
        for fd in ns_fds.values():
            os.close(fd)
        c.unlock()
    return pid

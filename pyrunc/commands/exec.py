"""exec: run a new process in a running container, as runc exec.

The process is pyrunc-init again, from its sealed copy: its first stage joins the
container's cgroups and every namespace of the container (opened from the init's
/proc/<pid>/ns while a pidfd pins the init), then clones into the joined pid and time
namespaces; the child takes the process's credentials, limits and cwd and execs.  pyrunc is
a child subreaper, so the process is re-parented to it when the first stage exits: without
--detach it relays the terminal or forwards signals, waits, and exits with the process's
status, as run does.
"""

import os

from ..errors import PyruncError

EXIT_FAILED = 255  # runc exec's code when the process could not be started


def _process(a, c):
    """The process to run: --process FILE, or the container's process with the flags."""
    from .. import caps, fastjson, specconv
    if a.process:
        try:
            with open(a.process, "rb") as f:
                proc = fastjson.loads(f.read())
        except OSError as e:
            raise PyruncError(f"--process {a.process}: {e.strerror}")
        except ValueError as e:
            raise PyruncError(f"--process {a.process}: not valid JSON: {e}")
        if not isinstance(proc, dict):
            raise PyruncError(f"--process {a.process}: not a process object")
        from ..schema import load_schema, validate
        schema = load_schema("config-schema.json")
        validate(proc, schema["properties"]["process"], schema, "process")
        if a.args:
            raise PyruncError("exec: give either --process or a command, not both")
        specconv.check_process(proc, "process")
        return proc
    proc = dict((c.data.get("config") or {}).get("process") or {})
    if not a.args:
        raise PyruncError("exec args cannot be empty")
    proc["args"] = list(a.args)
    if a.cwd:
        proc["cwd"] = a.cwd
    if a.apparmor:
        proc["apparmorProfile"] = a.apparmor
    if a.process_label:
        proc["selinuxLabel"] = a.process_label
    if a.cap:
        cp = {k: list(v) if v is not None else None
              for k, v in (proc.get("capabilities") or {}).items()}
        for name in a.cap:
            caps.mask([name], "--cap")
            for k in ("bounding", "effective", "permitted"):
                cp[k] = (cp.get(k) or []) + [name]
            # as runc: --cap never adds to the inheritable set (CVE-2022-29162); ambient
            # only when the process already has an inheritable set
            if cp.get("inheritable") is not None:
                cp["ambient"] = (cp.get("ambient") or []) + [name]
        proc["capabilities"] = cp
    proc["env"] = list(proc.get("env") or []) + list(a.env or ())
    proc["terminal"] = bool(a.tty)  # as runc: never the container's, only -t
    if not a.tty:
        proc.pop("consoleSize", None)
    if a.no_new_privs is not None:
        proc["noNewPrivileges"] = a.no_new_privs
    user = dict(proc.get("user") or {"uid": 0, "gid": 0})
    if a.user:
        uid, sep, gid = a.user.partition(":")
        user["uid"] = _id(uid, "uid")
        if sep:
            user["gid"] = _id(gid, "gid")
    if a.additional_gids:
        gids = list(user.get("additionalGids") or ())
        for g in a.additional_gids:
            if g.strip().startswith("-"):
                raise PyruncError(f"additional-gids must be a positive number {g.strip()}")
            gids.append(_id(g, "additional gid"))
        user["additionalGids"] = gids
    proc["user"] = user
    specconv.check_process(proc, "process")
    return proc


def _id(text, what):
    try:
        n = int(text)
    except ValueError:
        raise PyruncError(f"bad {what}: {text!r} is not a number")
    if not 0 <= n <= 0xFFFFFFFF:
        raise PyruncError(f"bad {what}: {n} is out of range")
    return n


def _namespace_fds(c, low):
    """type -> fd of each namespace the container has (and we are not in), opened while a
    pidfd pins the init, so a recycled pid cannot give another process's namespaces."""
    import select
    from ..launch import inheritable_at
    from ..specconv import NS_FILES
    pidfd = c.pidfd()
    if pidfd is None:
        raise PyruncError("cannot exec in a stopped container")
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
        fds = _join_order(fds)
        p = select.poll()
        p.register(pidfd, select.POLLIN)
        if p.poll(0):
            raise PyruncError("cannot exec in a stopped container")
    except BaseException:
        for fd in fds.values():
            os.close(fd)
        raise
    finally:
        os.close(pidfd)
    return fds


def _setgroups_denied(pid):
    """A rootless container with a single-id gid map cannot call setgroups(2)."""
    try:
        with open(f"/proc/{pid}/setgroups") as f:
            return f.read().strip() == "deny"
    except OSError:
        return False


def _connect(path, low):
    import socket
    from ..launch import inheritable_at
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
    except OSError as e:
        s.close()
        raise PyruncError(f"connect to the console socket {path}: {e.strerror}")
    return inheritable_at(s.detach(), low)


def _join_order(fds):
    """The namespaces in the order to join them: those the container's user namespace does
    not own (a time namespace made before it, a namespace joined by path) first, while we
    still have the host's capabilities; then the user namespace; then the rest, mount last
    (after it, host paths would resolve in the container)."""
    from ..specconv import JOIN_ORDER
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


def main(a):
    try:
        return _main(a)
    except PyruncError as e:
        msg = str(e)
        raise PyruncError(msg if msg.startswith("exec failed: ") else f"exec failed: {msg}",
                          code=EXIT_FAILED)


def _main(a):
    from .. import specconv
    from ..launch import Init, check_preserved, set_subreaper, write_pid_file
    from ..state import Container
    from ..supervise import Console, Forwarder, exit_code, terminal_size

    c = Container.load(a.root, a.id, lock=True)
    status = c.status()
    if status == "stopped":
        raise PyruncError("cannot exec in a stopped container")
    if status == "paused" and not a.ignore_paused:
        raise PyruncError("cannot exec in a paused container (use --ignore-paused to override)")
    proc = _process(a, c)
    preserve = a.preserve_fds or 0
    if preserve < 0:
        raise PyruncError("--preserve-fds must not be negative")
    check_preserved(preserve)
    if proc.get("terminal"):
        if not a.console_socket and a.detach:
            raise PyruncError("cannot allocate a tty when pyrunc detaches without --console-socket")
    elif a.console_socket:
        raise PyruncError("--console-socket given but the process has no terminal (use --tty)")

    fwd = Forwarder(not a.detach)
    console = None
    ns_fds = {}
    try:
        socket_path = os.path.abspath(a.console_socket) if a.console_socket else None
        if proc.get("terminal") and not socket_path:
            console = Console()
            socket_path = console.path
            size = terminal_size()
            if size and not proc.get("consoleSize"):
                proc["consoleSize"] = size
        ns_fds = _namespace_fds(c, 3 + preserve)
        if socket_path:
            # connected here: the process looks for no host path once in the container
            ns_fds["console"] = _connect(socket_path, 3 + preserve)
        paths = c.data.get("cgroups") or {}
        opt = specconv.Options(c.data.get("bundle", ""),
                               console_socket="@%d" % ns_fds["console"] if socket_path else None,
                               no_new_keyring=bool(c.data.get("no_new_keyring")),
                               preserve_fds=preserve, cid=a.id, cgroup_paths=paths,
                               shared_rootfs="" if _own_mount_ns(c) else c.data.get("rootfs", ""))
        userns = "user" in ns_fds
        plan = specconv.compile_exec_plan(proc, ns_fds, opt, userns, a.id,
                                          (c.data.get("config") or {}).get("seccomp"),
                                          userns and _setgroups_denied(c.data["pid"]))
        from ..log import log
        if log.debug_on:
            log.debug("exec plan:\n" + plan.describe())
        set_subreaper()
        # not held while the process starts: in a paused container (--ignore-paused) it
        # waits, frozen, until `resume`, which needs the lock
        c.unlock()
        init = Init(plan.encode(), preserve)
        for fd in ns_fds.values():
            os.close(fd)
        ns_fds = {}
        try:
            pid = init.wait_pid()
            init.go()

            def on_seccomp(fd):  # the container's state, the exec'd process's pid (as runc)
                from .. import SPEC_VERSION
                from ..seccomp import send_listener
                state = {"ociVersion": SPEC_VERSION, "id": a.id, "status": status,
                         "pid": c.data["pid"], "bundle": c.data.get("bundle", ""),
                         "annotations": c.data.get("annotations") or {}}
                send_listener(fd, pid, c.data["config"]["seccomp"], state)
            init.wait_exec(on_seccomp)
            if console:  # the init sent the pty before it exec'd
                console.receive()
        except BaseException:
            init.kill()
            raise
    finally:
        for fd in ns_fds.values():
            os.close(fd)
        if console:
            console.close_socket()
        c.unlock()
    if a.pid_file:
        write_pid_file(a.pid_file, pid)
    if a.detach:
        return 0
    return exit_code(fwd.supervise(pid, console))


def _own_mount_ns(c):
    nss = (c.data.get("config") or {}).get("namespaces") or ()
    return any(n.get("type") == "mount" for n in nss)

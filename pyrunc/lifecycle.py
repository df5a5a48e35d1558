"""start, kill and delete of an existing container (shared by the commands and run)."""

import os

# _signal is what signal wraps; signal itself imports enum (milliseconds per call)
import _signal as signal

from . import cgroups
from .errors import PyruncError
from .state import Container


def start(c):
    """Let a created container's init exec its process (c locked by the caller)."""
    import select
    status = c.status()
    if status != "created":
        if status == "stopped":
            raise PyruncError(f"cannot start a container that has stopped: {c.id}")
        raise PyruncError(f"cannot start an already {status} container: {c.id}")
    pidfd = c.pidfd()
    if pidfd is None:
        raise PyruncError(f"cannot start a container that has stopped: {c.id}")
    try:
        fd = os.open(c.fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        os.close(pidfd)
        raise PyruncError(f"cannot start an already running container: {c.id}")
    # The init writes "0" once the fifo is open, then keeps it open until execve: what
    # follows "0" before end of file is a failure (startContainer hook, execve) as "ERR …".
    buf = b""
    try:
        p = select.poll()
        p.register(fd, select.POLLIN)
        p.register(pidfd, select.POLLIN)
        eof = False
        while not eof:
            events = dict(p.poll())
            if fd in events:
                data = _read_some(fd)
                if data:
                    buf += data
                    continue
                if data == b"":
                    eof = True  # the writer closed: exec'd or failed
            if pidfd in events and not eof:
                while True:  # the init is gone: take what it wrote
                    data = _read_some(fd)
                    if not data:
                        break
                    buf += data
                if not buf:
                    raise PyruncError(f"container init exited before it could start: {c.id}")
                break
    finally:
        os.close(fd)
        os.close(pidfd)
    os.unlink(c.fifo)
    msg = buf[1:].decode(errors="replace").strip()
    if not buf.startswith(b"0") or msg:
        raise PyruncError(msg[4:] if msg.startswith("ERR ") else f"container {c.id} failed to start")
    hooks = (c.data.get("config") or {}).get("hooks") or {}
    if hooks.get("poststart"):
        from . import hooks as hk
        state = hk.state_json(c.id, "running", c.pid, c.data.get("bundle", ""),
                              c.data.get("annotations"))
        try:
            hk.run("poststart", hooks["poststart"], state)
        except PyruncError:
            _kill_init(c)  # runtime-spec: a failed poststart hook stops the container
            raise


def _kill_init(c):
    """SIGKILL the init through a checked pidfd; False when it was already gone."""
    pidfd = c.pidfd()
    if pidfd is None:
        return False
    try:
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
    except ProcessLookupError:
        pass
    finally:
        os.close(pidfd)
    return True


def _read_some(fd):
    """Bytes from a non-blocking fd; b"" at end of file, None when nothing is there yet."""
    try:
        return os.read(fd, 4096)
    except BlockingIOError:
        return None


def parse_signal(text):
    """A signal from a name (KILL, SIGKILL, SIGRTMIN+3) or a number."""
    if text is None or text == "":
        return signal.SIGTERM
    t = text.upper()
    if t.isdigit():
        n = int(t)
        if 0 < n < signal.NSIG:
            return n
        raise PyruncError(f"invalid signal: {text}")
    if not t.startswith("SIG"):
        t = "SIG" + t
    for base, value in (("SIGRTMIN", signal.SIGRTMIN), ("SIGRTMAX", signal.SIGRTMAX)):
        if t.startswith(base) and t != base:
            try:
                n = value + int(t[len(base):])
            except ValueError:
                raise PyruncError(f"invalid signal: {text}")
            if signal.SIGRTMIN <= n <= signal.SIGRTMAX:
                return n
            raise PyruncError(f"invalid signal: {text}")
    s = getattr(signal, t, None)
    if not isinstance(s, int) or t.startswith("SIG_") or not 0 < s < signal.NSIG:
        raise PyruncError(f"invalid signal: {text}")
    return s


def kill(c, sig, all_procs=False):
    paths = c.data.get("cgroups") or {}
    if all_procs and paths:
        cgroups.kill_all(paths, sig)
        if sig == signal.SIGKILL:
            cgroups.thaw(paths)
        return
    # (--all without a cgroup, rootless: the init, whose death ends its pid namespace)
    status = c.status()
    if status not in ("created", "running", "paused"):
        raise PyruncError("container not running")
    pidfd = c.pidfd()
    if pidfd is None:
        raise PyruncError("container not running")
    try:
        signal.pidfd_send_signal(pidfd, sig)
    except ProcessLookupError:
        raise PyruncError("container not running")
    finally:
        os.close(pidfd)
    if sig == signal.SIGKILL and status == "paused":
        cgroups.thaw(c.data.get("cgroups") or {})


def destroy(c):
    """Kill what is left of the container and remove its cgroups and state (c locked)."""
    from .launch import wait_gone
    paths = c.data.get("cgroups") or {}
    if _kill_init(c):
        cgroups.thaw(paths)
        wait_gone(c.pid)
    cgroups.kill_all(paths, signal.SIGKILL)
    cgroups.thaw(paths)
    shared = c.data.get("shared_mounts")
    if shared:
        from . import hostmounts
        stuck = hostmounts.detach_new(shared["rootfs"], shared["before"])
        if stuck:
            c.unlock()
            raise PyruncError(f"cannot detach the mounts of {c.id}: {', '.join(stuck)}; "
                              "the state is kept, try delete again")
    left = cgroups.remove(c.data.get("cgroups_created") or [], paths)
    if left:
        c.unlock()
        raise PyruncError(f"cannot remove the cgroups of {c.id}: {', '.join(left)} (still busy); "
                          "the state is kept, try delete again")
    c.remove_dir()
    hooks = (c.data.get("config") or {}).get("hooks") or {}
    if hooks.get("poststop"):
        # runtime-spec: poststop failures are logged, the deletion stands
        from . import hooks as hk
        hk.run_all_logged("poststop", hooks["poststop"],
                          hk.state_json(c.id, "stopped", 0, c.data.get("bundle", ""),
                                        c.data.get("annotations")))


def delete(root, cid, force=False):
    try:
        c = Container.load(root, cid, lock=True)
    except PyruncError:
        if not force:
            raise
        c = _half_made(root, cid)
        if c is None:
            return
    status = c.status()
    if status != "stopped" and not force:
        c.unlock()
        raise PyruncError(f"cannot delete container {cid} that is not stopped: {status}")
    destroy(c)


def _half_made(root, cid):
    """delete --force of an id without state: wait for a create in progress (it holds the
    lock); if it made a container, return it; remove a directory a crash left behind."""
    from .state import check_id
    check_id(cid)
    c = Container(root, cid)
    if not os.path.isdir(c.dir):
        return None
    try:
        c.lock()
    except PyruncError:
        return None  # removed meanwhile
    try:
        return Container.load(root, cid)  # the create finished: delete what it made
    except PyruncError:
        c.remove_dir()
        return None

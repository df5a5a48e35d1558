"""start: let a created container's init exec its process."""

import os

from ..errors import ExecutorError, PyruncError, StateError


def _read_some(fd):
    """Bytes from a non-blocking fd; b"" at end of file, None when nothing is there yet."""
    try:
        return os.read(fd, 65536)
    except BlockingIOError:
        return None


def start(c):
    """Open the exec fifo of c (held locked by the caller): the init, blocked on it, goes on.

    The init writes "0" once the fifo is open, then keeps it open until execve: what follows
    "0" before end of file is a failure (a startContainer hook, execve) as a failure frame."""
    import select
    status = c.status()
    if status != "created":
        if status == "stopped":
            raise StateError(f"cannot start a container that has stopped: {c.id}")
        raise StateError(f"cannot start an already {status} container: {c.id}")
    pidfd = c.pidfd()
    if pidfd is None:
        raise StateError(f"cannot start a container that has stopped: {c.id}")
    try:
        fd = os.open(c.fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        os.close(pidfd)
        raise StateError(f"cannot start an already running container: {c.id}")
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
    err = failure(buf, c.id)
    if err:
        raise err
    hooks = (c.data.get("config") or {}).get("hooks") or {}
    if hooks.get("poststart"):
        from .. import hooks as hk
        from ..config import hooks_of
        state = hk.state_json(c.id, "running", c.pid, c.data.get("bundle", ""), c.data.get("annotations"))
        try:
            hk.run("poststart", hooks_of(hooks)["poststart"], state)
        except PyruncError:
            kill_init(c)  # runtime-spec: a failed poststart hook stops the container
            raise


def failure(buf, cid):
    """The error of what the init wrote on the exec fifo, or None when it exec'd."""
    if buf == b"0":
        return None
    if buf.startswith(b"0ERR "):
        from ..executor import parse_failure
        err, _ = parse_failure(buf[5:])
        if err is not None:
            return err
    return ExecutorError(f"container {cid} failed to start")


def kill_init(c):
    """SIGKILL the init through a checked pidfd; False when it was already gone."""
    import _signal as signal
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

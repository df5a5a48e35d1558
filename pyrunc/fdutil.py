"""File descriptors and small file operations shared by the runtime's modules."""

import errno
import fcntl
import os

from .errors import PyruncError


def inheritable_at(fd, low):
    """Move fd to a number >= low and make it inheritable (for the executor only)."""
    new = fcntl.fcntl(fd, fcntl.F_DUPFD, low)
    os.close(fd)
    return new


def check_preserved(n):
    for fd in range(3, 3 + n):
        try:
            fcntl.fcntl(fd, fcntl.F_GETFD)
        except OSError:
            raise PyruncError(f"--preserve-fds {n}: file descriptor {fd} is not open")


def write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def write_file(path, text, what=None, error=PyruncError):
    """One open and one write(2) of text (id maps, cgroup files: the kernel wants the value in
    a single write).  A failure raises `error` naming `what` (or the path) and the value."""
    data = text.encode() if isinstance(text, str) else text
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except OSError as e:
        raise error(f"{what or 'write ' + path}: {e.strerror} ({data.decode(errors='replace').strip()!r})",
                    errno=None) from None
    try:
        os.write(fd, data)
    except OSError as e:
        raise error(f"{what or 'write ' + path}: {e.strerror} ({data.decode(errors='replace').strip()!r})") from None
    finally:
        os.close(fd)


def write_oom_score_adj(pid, value):
    write_file(f"/proc/{pid}/oom_score_adj", str(value), "set process.oomScoreAdj")


def read_text(path):
    """A small file's text, stripped; None when it cannot be read."""
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def pidfd_open(pid):
    """A pidfd of pid, or None when there is no such process (or its task is gone while
    the pid is still held)."""
    try:
        return os.pidfd_open(pid)
    except ProcessLookupError:
        return None
    except OSError as e:
        if e.errno == errno.EINVAL:
            return None
        raise


def wait_gone(pid, timeout=10.0):
    """Wait until pid has exited (reaping it when it is our child)."""
    import select
    try:
        os.waitpid(pid, 0)
        return True
    except ChildProcessError:
        pass
    fd = pidfd_open(pid)
    if fd is None:
        return True
    try:
        p = select.poll()
        p.register(fd, select.POLLIN)
        return bool(p.poll(int(timeout * 1000)))
    finally:
        os.close(fd)


def connect_console(path, low):
    """A connected socket to --console-socket, inheritable at a number >= low: connected by
    pyrunc on the host side, so the executor looks up no host path in the container."""
    s = _connect_unix(path, "connect to the console socket")
    return inheritable_at(s.detach(), low)


def _connect_unix(path, what):
    """A stream socket connected to the unix socket at path; PyruncError "<what> <path>: ..."."""
    import socket
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        s.connect(path)
    except OSError as e:
        s.close()
        raise PyruncError(f"{what} {path}: {e.strerror}")
    return s


def send_fd(path, fd, message, what):
    """fd, sent over a new connection to the unix socket at path (SCM_RIGHTS) with the
    message; PyruncError "<what> <path>: ..." when the socket cannot be reached."""
    import array
    import socket
    s = _connect_unix(path, what)
    try:
        s.sendmsg([message], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))])
    finally:
        s.close()


def send_pidfd(path, pid, name):
    """--pidfd-socket: a pidfd of pid, sent over a connection to the unix socket at path with
    the init's kind as the message ("standard" for create and run, "setns" for exec), as runc."""
    fd = os.pidfd_open(pid)
    try:
        send_fd(path, fd, name.encode(), "failed to dial")
    except OSError as e:
        raise PyruncError(f"failed to send pidfd on socket: {e.strerror}")
    finally:
        os.close(fd)


def write_pid_file(path, pid):
    path = os.path.abspath(path)
    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path))
    try:
        with open(tmp, "w") as f:
            f.write(str(pid))
        os.rename(tmp, path)
    except OSError as e:
        raise PyruncError(f"write pid file {path}: {e.strerror}")


def set_subreaper():
    """Make this process a child subreaper (create, run and exec reap what they start).

    pyrunc-front sets the flag before it execs Python -- it survives execve -- and says so
    in PYRUNC_SUBREAPER, with its pid (which execve keeps: a value inherited from another
    process never matches): then the cffi module (~2 ms of import) is not needed for it."""
    if os.environ.pop("PYRUNC_SUBREAPER", None) == str(os.getpid()):
        return
    from ._native import lib
    lib.pyrunc_set_subreaper(1)


def clear_subreaper():
    """Undo set_subreaper (the Python API leaves its caller as it found it)."""
    from ._native import lib
    lib.pyrunc_set_subreaper(0)


def is_subreaper():
    from ._native import lib
    return lib.pyrunc_get_subreaper() == 1

"""Start pyrunc-init from a sealed copy and drive it through a plan.

The executor is copied into a memfd that is sealed against writes, shrinking and growing,
and executed from there: /proc/<pid>/exe of every runtime process that the container can
see is that sealed copy, never a writable host file (the class of CVE-2019-5736).

Protocol (docs/plan.md): pyrunc writes the plan on the plan pipe; pyrunc-init answers on
the sync pipe with lines: `PID <n>` (the container's init, from stage 1), `READY` (the
container is built and waits on the exec fifo) or `ERR <message>`.  After `PID`, pyrunc
writes the id maps when a new user namespace is made, then sends `G` on the plan pipe; the
second stage waits for it, so that its lines never overtake the first stage's `PID`.
"""

import fcntl
import errno
import os

from .errors import PyruncError
from .log import log

F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_WRITE = 1, 2, 4, 8


def init_binary():
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.environ.get("PYRUNC_INIT") or os.path.join(here, "libexec", "pyrunc-init")
    if not os.path.exists(path):
        raise PyruncError(f"the executor {path} is missing: reinstall pyrunc")
    return path


def sealed_copy(path, low):
    """A sealed memfd holding the executor, at a descriptor number >= low, inheritable."""
    fd = os.memfd_create("pyrunc-init", os.MFD_ALLOW_SEALING | os.MFD_CLOEXEC)
    src = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        size = os.fstat(src).st_size
        off = 0
        while off < size:
            n = os.sendfile(fd, src, off, size - off)
            if n == 0:
                raise PyruncError(f"copy {path}: short read")
            off += n
    finally:
        os.close(src)
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL)
    return inheritable_at(fd, low)


def set_subreaper():
    """Make this process a child subreaper (create, run and exec reap what they start).

    pyrunc-front sets the flag before it execs Python -- it survives execve -- and says so
    in PYRUNC_SUBREAPER, with its pid (which execve keeps: a value inherited from another
    process never matches): then the cffi module (~2 ms of import) is not needed for it."""
    if os.environ.pop("PYRUNC_SUBREAPER", None) == str(os.getpid()):
        return
    from ._native import lib
    lib.pyrunc_set_subreaper()


def inheritable_at(fd, low):
    """Move fd to a number >= low and make it inheritable (for the executor only)."""
    new = fcntl.fcntl(fd, fcntl.F_DUPFD, low)
    os.close(fd)
    return new


class Init:
    """A running pyrunc-init: its stage-1 pid, the container init's pid, the pipes."""

    def __init__(self, plan_bytes, keep_fds=0):
        low = 3 + keep_fds
        exe = sealed_copy(init_binary(), low)
        plan_r, self.plan_w = os.pipe()
        self.sync_r, sync_w = os.pipe()
        plan_r = inheritable_at(plan_r, low)
        sync_w = inheritable_at(sync_w, low)
        try:
            self.stage1 = os.posix_spawn(f"/proc/self/fd/{exe}",
                                         ["pyrunc-init", str(plan_r), str(sync_w), str(keep_fds)], {})
        except OSError as e:
            for fd in (exe, plan_r, sync_w, self.plan_w, self.sync_r):
                os.close(fd)
            raise PyruncError(f"start the executor: {e.strerror}")
        for fd in (exe, plan_r, sync_w):
            os.close(fd)
        self.pid = 0
        self._buf = b""
        self.stage1_reaped = False
        try:
            write_all(self.plan_w, plan_bytes)
        except BrokenPipeError:
            pass  # the executor died; its sync message says why
        except BaseException:
            self.kill()
            raise

    def _line(self):
        while b"\n" not in self._buf:
            chunk = os.read(self.sync_r, 4096)
            if not chunk:
                return None
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode(errors="replace")

    def _reap_stage1(self):
        if not self.stage1_reaped:
            try:
                os.waitpid(self.stage1, 0)
            except ChildProcessError:
                pass
            self.stage1_reaped = True

    def wait_pid(self):
        """Wait for the container init's pid from stage 1."""
        line = self._line()
        if line is None or not line.startswith("PID "):
            self._reap_stage1()
            raise PyruncError(self._failure(line))
        self.pid = int(line[4:])
        self._reap_stage1()
        log.debug(f"container init is pid {self.pid}")
        return self.pid

    def go(self):
        try:
            write_all(self.plan_w, b"G")
        except BrokenPipeError:
            pass  # wait_ready reports why the init is gone

    def _next(self, on_hooks=None, on_seccomp=None):
        """The next line of the executor, serving its requests on the way: on HOOKS,
        on_hooks() runs pyrunc's hooks and returns the state that the init's own hooks get,
        sent back on the plan pipe; on SECCOMP <fd>, pyrunc takes a copy of the notify fd,
        lets the executor go on, and on_seccomp(copy) hands it to the agent."""
        while True:
            line = self._line()
            if line == "HOOKS" and on_hooks is not None:
                state = on_hooks()
                self._reply(len(state).to_bytes(4, "little") + state)
            elif line is not None and line.startswith("SECCOMP ") and on_seccomp is not None:
                from .seccomp import take_fd
                own = take_fd(self.pid, int(line[8:]))
                self._reply(b"S")
                on_seccomp(own)
            else:
                return line

    def _reply(self, data):
        try:
            write_all(self.plan_w, data)
        except BrokenPipeError:
            pass  # the caller's next read reports why the executor is gone

    def wait_ready(self, on_hooks=None, on_seccomp=None):
        """Wait for READY, serving the executor's requests (see _next)."""
        line = self._next(on_hooks, on_seccomp)
        if line != "READY":
            raise PyruncError(self._failure(line))
        self.close()

    def wait_exec(self, on_seccomp=None):
        """exec: the sync pipe closes when the process execs (no READY), or says ERR."""
        line = self._next(None, on_seccomp)
        if line is not None:
            raise PyruncError(self._failure(line))
        self.close()

    def _failure(self, line):
        if line is None:
            return "container init exited before it was ready"
        if line.startswith("ERR "):
            return line[4:]
        return f"unexpected message from the executor: {line!r}"

    def close(self):
        for fd in (self.plan_w, self.sync_r):
            try:
                os.close(fd)
            except OSError:
                pass
        self.plan_w = self.sync_r = -1

    def kill(self):
        """Kill whatever this init started and wait until it is gone."""
        import _signal as signal
        for pid in (self.pid, self.stage1):
            if pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self._reap_stage1()
        if self.pid:
            wait_gone(self.pid)
        self.close()


def write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def wait_gone(pid, timeout=10.0):
    """Wait until pid has exited (reaping it when it is our child)."""
    import select
    try:
        os.waitpid(pid, 0)
        return True
    except ChildProcessError:
        pass
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    except OSError as e:
        if e.errno == errno.EINVAL:  # the pid is still held but its task is gone
            return True
        raise
    try:
        p = select.poll()
        p.register(fd, select.POLLIN)
        return bool(p.poll(int(timeout * 1000)))
    finally:
        os.close(fd)


def id_map_text(maps):
    """linux.uidMappings-style entries as the lines of /proc/<pid>/uid_map."""
    return "".join(f"{m['containerID']} {m['hostID']} {m['size']}\n" for m in maps or ())


def write_file(path, text, what):
    """One write(2) of text (id maps must be written at once); errors name what."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)
    except OSError as e:
        raise PyruncError(f"{what}: {e.strerror} ({text.strip()!r})")


def write_id_maps(pid, cfg):
    linux = cfg.get("linux") or {}
    for name, key in (("uid_map", "uidMappings"), ("gid_map", "gidMappings")):
        write_file(f"/proc/{pid}/{name}", id_map_text(linux.get(key)), f"write {name} of the container")


def check_preserved(n):
    import fcntl
    for fd in range(3, 3 + n):
        try:
            fcntl.fcntl(fd, fcntl.F_GETFD)
        except OSError:
            raise PyruncError(f"--preserve-fds {n}: file descriptor {fd} is not open")


def write_pid_file(path, pid):
    path = os.path.abspath(path)
    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path))
    try:
        with open(tmp, "w") as f:
            f.write(str(pid))
        os.rename(tmp, path)
    except OSError as e:
        raise PyruncError(f"write pid file {path}: {e.strerror}")

"""pyrunc-init, started from a sealed copy and driven through a plan.

The executor is copied into a memfd that is sealed against writes, shrinking and growing,
and executed from there: /proc/<pid>/exe of every runtime process that the container can
see is that sealed copy, never a writable host file (the class of CVE-2019-5736).

Protocol (docs/plan.md): pyrunc writes the plan on the plan pipe; pyrunc-init answers on
the sync pipe with lines -- `PID <n>` (the container's init, from stage 1), `HOOKS`,
`SECCOMP <fd>`, `READY` -- or with a failure frame, `ERR <op index> <errno> <length>` and a
newline followed by exactly <length> bytes of message.  The frame keeps a message whole (a
hook's output of several lines) and says which op failed and why, so the error names the
config field the op came from.  After `PID`, pyrunc writes the id maps when a new user
namespace is made, then sends `G` on the plan pipe; the second stage waits for it, so that
its lines never overtake the first stage's `PID`.
"""

import fcntl
import os

from .errors import ExecutorError, PyruncError
from .fdutil import inheritable_at, wait_gone, write_all
from .log import log

F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_WRITE = 1, 2, 4, 8


def binary():
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


def parse_failure(data, plan=None):
    """An ExecutorError from a failure frame (the bytes after `ERR `), or None when data
    holds no complete frame.  Returns (error, bytes consumed)."""
    head, nl, rest = data.partition(b"\n")
    if not nl:
        return None, 0
    try:
        idx, err, length = (int(x) for x in head.split())
    except ValueError:
        msg = head.decode(errors="replace")
        return ExecutorError(f"unexpected message from the executor: {msg!r}"), len(head) + 1
    if len(rest) < length:
        return None, 0
    msg = rest[:length].decode(errors="replace")
    op = field = None
    if plan is not None and 0 <= idx < len(plan.ops):
        op, field = plan.ops[idx].name, plan.ops[idx].field
    e = ExecutorError(msg, errno=err or None, op=op)
    e.config_field = field
    return e, len(head) + 1 + length


class Executor:
    """A running pyrunc-init: its stage-1 pid, the container init's pid, the pipes."""

    def __init__(self, plan, keep_fds=0, stdio=None):
        """stdio: three fds to be the executor's (and so the process's) 0, 1 and 2, instead of
        ours (the Python API's capture)."""
        self.plan = plan
        low = 3 + keep_fds
        data = plan.encode()
        exe = sealed_copy(binary(), low)
        plan_r, self.plan_w = os.pipe()
        self.sync_r, sync_w = os.pipe()
        plan_r = inheritable_at(plan_r, low)
        sync_w = inheritable_at(sync_w, low)
        try:
            actions = [(os.POSIX_SPAWN_DUP2, fd, i) for i, fd in enumerate(stdio)] if stdio else ()
            self.stage1 = os.posix_spawn(f"/proc/self/fd/{exe}",
                                         ["pyrunc-init", str(plan_r), str(sync_w), str(keep_fds)], {},
                                         file_actions=actions)
        except OSError as e:
            for fd in (exe, plan_r, sync_w, self.plan_w, self.sync_r):
                os.close(fd)
            raise PyruncError(f"start the executor: {e.strerror}")
        for fd in (exe, plan_r, sync_w):
            os.close(fd)
        self.pid = 0
        self._buf = b""
        self.stage1_reaped = False
        self.stage1_status = None
        try:
            write_all(self.plan_w, data)
        except BrokenPipeError:
            pass  # the executor died; its sync message says why
        except BaseException:
            self.kill()
            raise

    def _fill(self):
        chunk = os.read(self.sync_r, 65536)
        if chunk:
            self._buf += chunk
        return bool(chunk)

    def _message(self):
        """The next message: a line, or an ExecutorError for a failure frame; None at end."""
        while True:
            if self._buf.startswith(b"ERR "):
                err, used = parse_failure(self._buf[4:], self.plan)
                if err is not None:
                    self._buf = self._buf[4 + used:]
                    return err
            elif b"\n" in self._buf:
                line, self._buf = self._buf.split(b"\n", 1)
                return line.decode(errors="replace")
            if not self._fill():
                if self._buf:
                    rest, self._buf = self._buf.decode(errors="replace"), b""
                    return ExecutorError(f"unexpected message from the executor: {rest!r}")
                return None

    def _reap_stage1(self):
        if not self.stage1_reaped:
            try:
                self.stage1_status = os.waitpid(self.stage1, 0)[1]
            except ChildProcessError:
                pass
            self.stage1_reaped = True

    def wait_pid(self):
        """Wait for the container init's pid from stage 1."""
        msg = self._message()
        if not (isinstance(msg, str) and msg.startswith("PID ")):
            self._reap_stage1()
            raise self._failure(msg)
        self.pid = int(msg[4:])
        self._reap_stage1()
        log.debug(f"container init is pid {self.pid}")
        return self.pid

    def release(self):
        """Let the first stage go on from HOLD."""
        try:
            write_all(self.plan_w, b"G")
        except BrokenPipeError:
            pass  # wait_pid reports why the executor is gone

    def go(self):
        try:
            write_all(self.plan_w, b"G")
        except BrokenPipeError:
            pass  # wait_ready reports why the init is gone

    def _next(self, on_hooks=None, on_seccomp=None):
        """The next message of the executor, serving its requests on the way: on HOOKS,
        on_hooks() runs pyrunc's hooks and returns the state that the init's own hooks get,
        sent back on the plan pipe; on SECCOMP <fd>, pyrunc takes a copy of the notify fd,
        lets the executor go on, and on_seccomp(copy) hands it to the agent."""
        while True:
            msg = self._message()
            if msg == "HOOKS" and on_hooks is not None:
                states = on_hooks()
                self._reply(b"".join(len(s).to_bytes(4, "little") + s for s in states))
            elif isinstance(msg, str) and msg.startswith("SECCOMP ") and on_seccomp is not None:
                from .seccomp import take_fd
                own = take_fd(self.pid, int(msg[8:]))
                self._reply(b"S")
                on_seccomp(own)
            else:
                return msg

    def _reply(self, data):
        try:
            write_all(self.plan_w, data)
        except BrokenPipeError:
            pass  # the caller's next read reports why the executor is gone

    def wait_ready(self, on_hooks=None, on_seccomp=None):
        """Wait for READY, serving the executor's requests (see _next)."""
        msg = self._next(on_hooks, on_seccomp)
        if msg != "READY":
            raise self._failure(msg)
        self.close()

    def wait_exec(self, on_seccomp=None):
        """exec: the sync pipe closes when the process execs (no READY), or says ERR."""
        msg = self._next(None, on_seccomp)
        if msg is not None:
            raise self._failure(msg)
        self.close()

    def _failure(self, msg):
        if msg is None:
            return ExecutorError("container init exited before it was ready" + self._how_it_ended())
        if isinstance(msg, ExecutorError):
            return msg
        return ExecutorError(f"unexpected message from the executor: {msg!r}")

    def _how_it_ended(self):
        """How the executor ended without saying why (a signal: an rlimit it could not live
        under, say): its wait status, as far as this process can reap it."""
        status = None
        if self.pid:
            try:  # our child: the first stage exited and we are its subreaper
                wpid, status = os.waitpid(self.pid, 0)
            except ChildProcessError:
                status = None
        elif self.stage1_status is not None:
            status = self.stage1_status
        if status is None:
            return ""
        if os.WIFSIGNALED(status):
            import _signal
            sig = os.WTERMSIG(status)
            name = next((n for n in dir(_signal) if n.startswith("SIG") and not n.startswith("SIG_")
                         and getattr(_signal, n) == sig), str(sig))
            return f" (killed by {name})"
        return f" (exit status {os.WEXITSTATUS(status)})"

    def close(self):
        for fd in (self.plan_w, self.sync_r):
            try:
                os.close(fd)
            except OSError:
                pass
        self.plan_w = self.sync_r = -1

    def kill(self):
        """Kill whatever this executor started and wait until it is gone."""
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

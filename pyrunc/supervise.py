"""Supervising a process that pyrunc started (run: the container's init; exec: the new
process): the console socket that receives its pty master, relaying the terminal, signals
forwarded to it, its exit status.  Shared by run and exec, and apart from create so that
exec loads none of create's modules."""

import _signal as signal
import os

from .errors import PyruncError
from .fdutil import write_all as _write_all

FORWARD = [signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGUSR1,
           signal.SIGUSR2, signal.SIGALRM, signal.SIGCONT, signal.SIGTSTP, signal.SIGTTIN,
           signal.SIGTTOU, signal.SIGPWR, signal.SIGSYS, signal.SIGVTALRM, signal.SIGPROF]


def exit_code(status):
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


class Console:
    """The pty master, received from the container's init over a socketpair: one end stays
    here, the other is passed to the executor as a descriptor (CONSOLE's socket_fd), so no
    named socket is made anywhere (a shared /tmp, a tmp cleaner, another user)."""

    def __init__(self):
        import socket
        self.sock, self._peer = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.master = -1

    def peer_fd(self, low):
        """The executor's end, inheritable at a number >= low (closed by close_peer)."""
        from .fdutil import inheritable_at
        fd = inheritable_at(self._peer.detach(), low)
        self._peer = fd
        return fd

    def close_peer(self):
        if isinstance(self._peer, int):
            os.close(self._peer)
        elif self._peer is not None:
            self._peer.close()
        self._peer = None

    def receive(self):
        import socket
        self.close_peer()
        _, fds, _, _ = socket.recv_fds(self.sock, 64, 1)
        if not fds:
            raise PyruncError("console: no terminal received from the container")
        self.master = fds[0]
        self.close_socket()

    def close_socket(self):
        self.close_peer()
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def terminal_size():
    """{"height", "width"} of the terminal on our stdin, or None."""
    import fcntl
    import struct
    import termios
    try:
        rows, cols = struct.unpack("HHHH", fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8))[:2]
    except OSError:
        return None
    return {"height": rows, "width": cols} if rows or cols else None


def _resize(master):
    import fcntl
    import termios
    try:
        size = fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(master, termios.TIOCSWINSZ, size)
    except OSError:
        pass


def _relay(master, pid):
    """Copy stdin to the pty and the pty to stdout until the init exits."""
    import select
    import termios
    import tty
    saved = None
    if os.isatty(0):
        saved = termios.tcgetattr(0)
        tty.setraw(0)
        _resize(master)
        signal.signal(signal.SIGWINCH, lambda *_: _resize(master))
    pidfd = os.pidfd_open(pid)
    p = select.poll()
    p.register(master, select.POLLIN)
    p.register(pidfd, select.POLLIN)
    stdin_open = True
    p.register(0, select.POLLIN)
    try:
        done = False
        while not done:
            for fd, ev in p.poll():
                if fd == master:
                    try:
                        data = os.read(master, 65536)
                    except OSError:
                        data = b""
                    if not data:
                        p.unregister(master)
                        continue
                    _write_all(1, data)
                elif fd == 0 and stdin_open:
                    data = os.read(0, 65536) if ev & (select.POLLIN | select.POLLHUP) else b""
                    if not data:
                        stdin_open = False
                        p.unregister(0)
                        continue
                    _write_all(master, data)
                elif fd == pidfd:
                    done = True
        os.set_blocking(master, False)
        while True:  # what the process wrote before it exited
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            _write_all(1, data)
    finally:
        os.close(pidfd)
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)


def _wait(pid):
    """The init's exit status; reaps every other child that ends meanwhile.  create made
    this process a subreaper, so the init is our child."""
    while True:
        try:
            wpid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            raise PyruncError(f"container init {pid} is not a child of pyrunc: no exit status")
        if wpid == pid:
            return status


class Forwarder:
    """Signals pyrunc receives go to the process (run: the init; exec: the new process).

    They are caught from before the process exists: one that arrives between its start and
    the wait is held, then forwarded, instead of killing pyrunc."""

    def __init__(self, install):
        self.pid = 0
        self.pending = []
        self.handlers = {}
        for s in FORWARD if install else ():
            try:
                self.handlers[s] = signal.signal(s, self)
            except (OSError, ValueError):
                pass

    def __call__(self, sig, _frame):
        if self.pid:
            _forward(self.pid, sig)
        else:
            self.pending.append(sig)

    def supervise(self, pid, console):
        """Forward signals to pid, relay the console's terminal, wait; the exit status."""
        import gc
        gc.enable()  # this may last as long as the container (cli.entry turned it off)
        self.pid = pid
        for n in self.pending:
            _forward(pid, n)
        try:
            if console:
                _relay(console.master, pid)
            return _wait(pid)
        finally:
            for s, h in self.handlers.items():
                signal.signal(s, h)


def _forward(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass

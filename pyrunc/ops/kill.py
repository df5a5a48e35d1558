"""kill: a signal to the container's init, or with --all to every process in its cgroup."""

# _signal is what signal wraps; signal itself imports enum (milliseconds per call)
import _signal as signal
import os

from ..errors import StateError, UsageError


def parse_signal(text):
    """A signal from a name (KILL, SIGKILL, SIGRTMIN+3) or a number."""
    if text is None or text == "":
        return signal.SIGTERM
    t = text.upper()
    if t.isdigit():
        n = int(t)
        if 0 <= n < signal.NSIG:  # 0: only whether it is there (kill --all ID 0, as runc)
            return n
        raise UsageError(f"invalid signal: {text}")
    if not t.startswith("SIG"):
        t = "SIG" + t
    for base, value in (("SIGRTMIN", signal.SIGRTMIN), ("SIGRTMAX", signal.SIGRTMAX)):
        if t.startswith(base) and t != base:
            try:
                n = value + int(t[len(base):])
            except ValueError:
                raise UsageError(f"invalid signal: {text}")
            if signal.SIGRTMIN <= n <= signal.SIGRTMAX:
                return n
            raise UsageError(f"invalid signal: {text}")
    s = getattr(signal, t, None)
    if not isinstance(s, int) or t.startswith("SIG_") or not 0 < s < signal.NSIG:
        raise UsageError(f"invalid signal: {text}")
    return s


def kill(c, sig, all_procs=False):
    """Signal container c (locked by the caller)."""
    mgr = c.cgroup
    if all_procs and mgr.has_cgroup():
        mgr.kill_all(sig)
        if sig == signal.SIGKILL:
            mgr.thaw_quietly()
        return
    # (--all without a cgroup, rootless: the init, whose death ends its pid namespace)
    status = c.status()
    if status not in ("created", "running", "paused"):
        raise StateError("container not running")
    from ..state import private_pid_ns
    if sig == signal.SIGKILL and not private_pid_ns(c.data) and mgr.has_cgroup():
        # as runc 1.2: without a pid namespace of its own, the init's death ends nothing else,
        # so SIGKILL goes to every process of the container's cgroup
        mgr.kill_all(sig)
        mgr.thaw_quietly()
        return
    pidfd = c.pidfd()
    if pidfd is None:
        raise StateError("container not running")
    try:
        signal.pidfd_send_signal(pidfd, sig)
    except ProcessLookupError:
        raise StateError("container not running")
    finally:
        os.close(pidfd)
    if sig == signal.SIGKILL and status == "paused":
        mgr.thaw_quietly()

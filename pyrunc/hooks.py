"""OCI hooks run by pyrunc itself, in the runtime namespace: prestart, createRuntime (during
create), poststart (after start) and poststop (after delete).  createContainer and
startContainer hooks run in the container and are executed by pyrunc-init (op HOOK).

Each hook gets the container's state JSON on stdin, exactly its `args` (argv[0] included)
and `env` (nothing else), and is killed after `timeout` seconds.  Its stdout and stderr are
kept for the error message, as runc does.  Imported only when a config has hooks.
"""


from .errors import HookError


def state_json(cid, status, pid, bundle, annotations):
    """The runtime-spec state given to hooks (pid left out once the container stopped)."""
    from . import SPEC_VERSION, fastjson
    st = {"ociVersion": SPEC_VERSION, "id": cid, "status": status}
    if pid and status != "stopped":
        st["pid"] = pid
    st["bundle"] = bundle
    if annotations:
        st["annotations"] = annotations
    return fastjson.dumps(st).encode()


def run(kind, hooks, state, cwd=None):
    """Run the hooks of one kind (config.Hook) in order; the first failure raises HookError."""
    for i, h in enumerate(hooks or ()):
        why = _run_one(h, state, cwd)
        if why:
            raise HookError(f"error running {kind} hook #{i}: {why}")


def run_all_logged(kind, hooks, state, cwd=None):
    """Run every hook, logging failures as warnings (poststop: failures are not fatal)."""
    from .log import log
    for i, h in enumerate(hooks or ()):
        why = _run_one(h, state, cwd)
        if why:
            log.warning(f"error running {kind} hook #{i}: {why}")


def _run_one(h, state, cwd):
    """Run one hook in a process group of its own: when it runs past its timeout, the whole
    group is killed (what it started too) and waited for."""
    import subprocess
    timeout = h.timeout
    try:
        p = subprocess.Popen(h.args, executable=h.path, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=_env(h.env), cwd=cwd, close_fds=True,
                             process_group=0)
    except OSError as e:
        return f"exec {h.path}: {e.strerror}"
    try:
        out, err = p.communicate(state, timeout=timeout or None)
    except subprocess.TimeoutExpired:
        import os
        import signal
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()
        for f in (p.stdin, p.stdout, p.stderr):
            f.close()  # not read to their end: something that left the group may hold them
        return f"hook ran past specified timeout of {float(timeout):.1f}s"
    if p.returncode == 0:
        return None
    why = f"exit status {p.returncode}" if p.returncode > 0 else f"signal: {_signame(-p.returncode)}"
    out = out.decode(errors="replace").strip()
    err = err.decode(errors="replace").strip()
    return f"{why}, stdout: {out}, stderr: {err}"


def _env(env):
    """A hook's environment: its own `env`, or, without one, pyrunc's (as runc and crun)."""
    import os
    if env is None:
        return dict(os.environ)
    out = {}
    for e in env:
        k, _, v = e.partition("=")
        out[k] = v
    return out


def _signame(n):
    import signal
    try:
        return signal.strsignal(n) or str(n)
    except ValueError:
        return str(n)

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
    import subprocess
    timeout = h.timeout
    try:
        cp = subprocess.run(h.args, executable=h.path, input=state, capture_output=True,
                            env=_env(h.env), cwd=cwd, timeout=timeout or None,
                            close_fds=True)
    except subprocess.TimeoutExpired:
        return f"hook ran past specified timeout of {float(timeout):.1f}s"
    except OSError as e:
        return f"exec {h.path}: {e.strerror}"
    if cp.returncode == 0:
        return None
    why = (f"exit status {cp.returncode}" if cp.returncode > 0
           else f"signal: {_signame(-cp.returncode)}")
    out = cp.stdout.decode(errors="replace").strip()
    err = cp.stderr.decode(errors="replace").strip()
    return f"{why}, stdout: {out}, stderr: {err}"


def _env(env):
    out = {}
    for e in env or ():
        k, _, v = e.partition("=")
        out[k] = v
    return out


def _signame(n):
    import signal
    try:
        return signal.strsignal(n) or str(n)
    except ValueError:
        return str(n)

"""exec: the process from --process FILE, or the container's process with the flags; then
ops/exec.py runs it.  Any failure before the process runs exits 255, as runc exec."""

from ..errors import ConfigError, PyruncError, UsageError

EXIT_FAILED = 255  # runc exec's code when the process could not be started


def process_doc(a, c):
    """The process document to run: --process FILE, or the container's with the flags."""
    from ..config import parse_json, read_document
    if a.process:
        src = f"--process {a.process}"
        raw = read_document(a.process, a.process, limit=1 << 20,
                            error=lambda msg: ConfigError(msg, source="--process"))
        proc = parse_json(raw, src)
        if not isinstance(proc, dict):
            raise ConfigError("not a process object", source=src)
        from ..schema import load_schema, validate
        schema = load_schema("config-schema.json")
        validate(proc, schema["properties"]["process"], schema, "process")
        if a.args:
            raise UsageError("exec: give either --process or a command, not both")
        proc.setdefault("user", {"uid": 0, "gid": 0})  # as runc: root unless it says otherwise
        return proc
    proc = dict((c.data.get("config") or {}).get("process") or {})
    if not a.args:
        raise UsageError("exec args cannot be empty")
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
        for name in a.cap:  # an unknown name: a warning (check_process), as runc
            for k in ("bounding", "effective", "permitted"):
                cp[k] = (cp.get(k) or []) + [name]
            # as runc: --cap never adds to the inheritable set (CVE-2022-29162); ambient
            # only when the process already has an inheritable set
            if cp.get("inheritable") is not None:
                cp["ambient"] = (cp.get("ambient") or []) + [name]
        proc["capabilities"] = cp
    proc["env"] = merge_env(proc.get("env") or [], a.env or ())
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
                raise UsageError(f"additional-gids must be a positive number {g.strip()}")
            gids.append(_id(g, "additional gid"))
        user["additionalGids"] = gids
    proc["user"] = user
    return proc


def merge_env(env, extra):
    """env with the --env entries: one that names a variable already there replaces it (as
    runc); the others are added, in order."""
    out = list(env)
    for e in extra:
        name = e.partition("=")[0]
        for i, old in enumerate(out):
            if old.partition("=")[0] == name:
                out[i] = e
                break
        else:
            out.append(e)
    return out


def _id(text, what):
    from ..config import MAX_ID
    try:
        n = int(text)
    except ValueError:
        raise UsageError(f"bad {what}: {text!r} is not a number")
    if not 0 <= n <= MAX_ID:
        raise UsageError(f"bad {what}: uids and gids must be in range 0-{MAX_ID}, not {n}")
    return n


def main(a):
    try:
        return _main(a)
    except PyruncError as e:
        raise e.with_prefix("exec failed", code=EXIT_FAILED)


def _main(a):
    from ..config import check_process
    from ..ops.exec import Request, check_status, execute
    from ..state import Container
    from ..supervise import Console, Forwarder, exit_code, terminal_size

    c = Container.load(a.root, a.id, lock=True)
    status = check_status(c, a.ignore_paused)
    proc = check_process(process_doc(a, c), "process", "--process" if a.process else "config.json")
    if proc.terminal:
        if not a.console_socket and a.detach:
            raise UsageError("cannot allocate a tty when pyrunc detaches without --console-socket")
    elif a.console_socket:
        raise UsageError("--console-socket given but the process has no terminal (use --tty)")
    req = Request(proc, console_socket=a.console_socket, pid_file=a.pid_file, detach=a.detach,
                  preserve_fds=a.preserve_fds, ignore_paused=a.ignore_paused, pidfd_socket=a.pidfd_socket)
    req.sub_cgroups = tuple(a.cgroup or ())
    fwd = Forwarder(not a.detach)
    console = None
    try:
        if proc.terminal and not a.console_socket:
            console = Console()
            size = terminal_size()
            if size and not proc.console_size:
                proc.console_size = (size["height"], size["width"])
        pid = execute(c, req, status, console)
    finally:
        if console:
            console.close_socket()
        c.unlock()
    if a.pid_file:
        from ..fdutil import write_pid_file
        write_pid_file(a.pid_file, pid)
    if a.detach:
        return 0
    return exit_code(fwd.supervise(pid, console))

"""Command line: runc's global flags and subcommands, parsed by hand.

argparse costs several milliseconds of import and start-up on every call, and engines call
the runtime several times per container, so this module parses with a small table instead.
Like runc (urfave/cli), it takes `--flag value`, `--flag=value`, `-flag value` and the short
aliases; flags may follow the container id, except for `exec`, where everything after the
id belongs to the command being executed.  Command modules are imported only when run.
"""

import os
import sys

from . import SPEC_VERSION, __version__
from .errors import PyruncError, UsageError
from .log import log

# name -> (dest, kind); kind is "bool", "str", "int" or "list" (repeatable, collected)
GLOBAL_FLAGS = {
    "root": ("root", "str"), "log": ("log", "str"), "log-format": ("log_format", "str"),
    "debug": ("debug", "bool"), "systemd-cgroup": ("systemd_cgroup", "bool"),
    "rootless": ("rootless", "str"), "criu": ("criu", "str"),
    "help": ("help", "bool"), "h": ("help", "bool"),
    "version": ("version", "bool"), "v": ("version", "bool"),
}

_CREATE = {
    "bundle": ("bundle", "str"), "b": ("bundle", "str"),
    "console-socket": ("console_socket", "str"), "pid-file": ("pid_file", "str"),
    "no-pivot": ("no_pivot", "bool"), "no-new-keyring": ("no_new_keyring", "bool"),
    "preserve-fds": ("preserve_fds", "int"), "pidfd-socket": ("pidfd_socket", "str"),
}
_RUN = dict(_CREATE, **{
    "detach": ("detach", "bool"), "d": ("detach", "bool"), "keep": ("keep", "bool"),
})

_EXEC = {
    "console-socket": ("console_socket", "str"), "cwd": ("cwd", "str"),
    "env": ("env", "list"), "e": ("env", "list"), "tty": ("tty", "bool"), "t": ("tty", "bool"),
    "user": ("user", "str"), "u": ("user", "str"),
    "additional-gids": ("additional_gids", "list"), "g": ("additional_gids", "list"),
    "process": ("process", "str"), "p": ("process", "str"),
    "detach": ("detach", "bool"), "d": ("detach", "bool"), "pid-file": ("pid_file", "str"),
    "process-label": ("process_label", "str"), "apparmor": ("apparmor", "str"),
    "no-new-privs": ("no_new_privs", "bool"), "cap": ("cap", "list"), "c": ("cap", "list"),
    "preserve-fds": ("preserve_fds", "int"), "ignore-paused": ("ignore_paused", "bool"),
    "pidfd-socket": ("pidfd_socket", "str"), "cgroup": ("cgroup", "list"),
}

_UPDATE = {name: (name.replace("-", "_"), "str") for name in (
    "blkio-weight", "cpu-period", "cpu-quota", "cpu-burst", "cpu-share", "cpu-rt-period",
    "cpu-rt-runtime", "cpuset-cpus", "cpuset-mems", "kernel-memory", "kernel-memory-tcp", "memory",
    "cpu-idle", "memory-reservation", "memory-swap", "pids-limit", "l3-cache-schema", "mem-bw-schema")}
_UPDATE.update({"resources": ("resources", "str"), "r": ("resources", "str"),
                "cpu-shares": ("cpu_share", "str")})

_CHECKPOINT = {name: (name.replace("-", "_"), "str") for name in (
    "image-path", "work-path", "parent-path", "page-server", "manage-cgroups-mode")}
_CHECKPOINT.update({name: (name.replace("-", "_"), "bool") for name in (
    "leave-running", "tcp-established", "tcp-skip-in-flight", "link-remap", "ext-unix-sk", "shell-job",
    "lazy-pages", "file-locks", "pre-dump", "auto-dedup")})
_CHECKPOINT.update({"status-fd": ("status_fd", "int"), "empty-ns": ("empty_ns", "list")})
_RESTORE = {name: (name.replace("-", "_"), "str") for name in (
    "console-socket", "image-path", "work-path", "manage-cgroups-mode", "bundle", "pid-file", "lsm-profile",
    "lsm-mount-context")}
_RESTORE.update({name: (name.replace("-", "_"), "bool") for name in (
    "tcp-established", "ext-unix-sk", "shell-job", "file-locks", "detach", "no-subreaper", "no-pivot",
    "auto-dedup", "lazy-pages")})
_RESTORE.update({"b": ("bundle", "str"), "d": ("detach", "bool"), "empty-ns": ("empty_ns", "list")})

# command -> (module, flags, positional names, minimum positionals, usage)
COMMANDS = {
    "create": ("create", _CREATE, ["id"], 1, "create [options] <container-id>"),
    "run": ("run", _RUN, ["id"], 1, "run [options] <container-id>"),
    "start": ("start", {}, ["id"], 1, "start <container-id>"),
    "state": ("state", {}, ["id"], 1, "state <container-id>"),
    "kill": ("kill", {"all": ("all", "bool"), "a": ("all", "bool")}, ["id", "signal"], 1,
             "kill [--all] <container-id> [signal]"),
    "delete": ("delete", {"force": ("force", "bool"), "f": ("force", "bool")}, ["id"], 1,
               "delete [--force] <container-id>"),
    "list": ("list", {"format": ("format", "str"), "f": ("format", "str"),
                      "quiet": ("quiet", "bool"), "q": ("quiet", "bool")}, [], 0,
             "list [--format table|json] [--quiet]"),
    "pause": ("pause", {}, ["id"], 1, "pause <container-id>"),
    "resume": ("resume", {}, ["id"], 1, "resume <container-id>"),
    "ps": ("ps", {"format": ("format", "str"), "f": ("format", "str")}, ["id", "*args"], 1,
           "ps [--format table|json] <container-id> [ps options]"),
    "events": ("events", {"interval": ("interval", "str"), "stats": ("stats", "bool")}, ["id"], 1,
               "events [--stats] [--interval 5s] <container-id>"),
    "update": ("update", _UPDATE, ["id"], 1, "update [options] <container-id>"),
    "features": ("features", {}, [], 0, "features"),
    "exec": ("exec", _EXEC, ["id", "*args"], 1,
             "exec [options] <container-id> <command> [args...] | exec -p process.json <container-id>"),
    "checkpoint": ("checkpoint", _CHECKPOINT, ["id"], 1, "checkpoint [options] <container-id>"),
    "restore": ("restore", _RESTORE, ["id"], 1, "restore [options] <container-id>"),
    "spec": ("spec", {"bundle": ("bundle", "str"), "b": ("bundle", "str"),
                      "rootless": ("rootless", "bool")}, [], 0, "spec [--bundle DIR] [--rootless]"),
}

# Commands that later issues bring; until then they fail clearly instead of pretending.
NOT_YET = ()

USAGE = """usage: pyrunc [global options] command [command options] [arguments...]

pyrunc is an OCI runtime (runtime-spec %s) with runc's command line.

commands:
  create   create a container          run      create, start and wait for a container
  start    start a created container   state    print a container's state as JSON
  kill     signal a container's init   delete   delete a container
  list     list containers             spec     write a default config.json
  pause    freeze a container          resume   thaw a paused container
  update   change a container's resources
  ps       list a container's processes
  events   a container's statistics and OOM events
  features what this runtime supports (runtime-spec features document)
  exec     run a new process in a container
  checkpoint  save a running container with CRIU
  restore  restore a container from a checkpoint

global options:
  --root DIR            state directory (default /run/pyrunc)
  --log FILE            write errors (and --debug lines) to FILE
  --log-format FORMAT   text or json (default text)
  --debug               log debug lines
  --systemd-cgroup      create: systemd makes the container's cgroup (a transient unit;
                        cgroupsPath "slice:prefix:name")
  --rootless VALUE      true, false or auto (default auto)
  --criu PATH           the criu binary of checkpoint and restore (default: criu in $PATH)
  --version, -v         print the version
""" % SPEC_VERSION


class Args:
    """The parsed flags of one command: each flag of its table (and each positional) is an
    attribute, None when not given.  Any other name raises AttributeError: a misspelt name
    is a bug found at once, not a silent None."""

    def __init__(self, table=(), extra=()):
        for dest, _ in dict(table).values():
            setattr(self, dest, None)
        for name in extra:
            setattr(self, name, None)


def _parse_flags(argv, table, args, npos, stop_after=None):
    """Parse flags from argv into args; return the positionals.

    With stop_after=N, once N positionals are taken the rest of argv is returned verbatim."""
    pos = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if stop_after is not None and len(pos) >= stop_after:
            pos.extend(argv[i:])
            break
        if a == "--":
            pos.extend(argv[i + 1:])
            break
        if len(a) > 1 and a[0] == "-":
            name = a.lstrip("-")
            value = None
            if "=" in name:
                name, value = name.split("=", 1)
            if name not in table:
                raise UsageError(f"flag provided but not defined: -{name}")
            dest, kind = table[name]
            if kind == "bool":
                if value is None:
                    setattr(args, dest, True)
                elif value.lower() in ("true", "1", "t"):
                    setattr(args, dest, True)
                elif value.lower() in ("false", "0", "f"):
                    setattr(args, dest, False)
                else:
                    raise UsageError(f"invalid boolean value {value!r} for flag --{name}")
            else:
                if value is None:
                    i += 1
                    if i >= len(argv):
                        raise UsageError(f"flag needs an argument: --{name}")
                    value = argv[i]
                if kind == "int":
                    try:
                        value = int(value, 0)
                    except ValueError:
                        raise UsageError(f"invalid value {value!r} for flag --{name}: not a number")
                if kind == "list":
                    value = (getattr(args, dest) or []) + [value]
                setattr(args, dest, value)
        else:
            pos.append(a)
        i += 1
    return pos


def parse(argv):
    """Split argv into (global args, command, command args)."""
    g = Args(GLOBAL_FLAGS)
    # global flags stop at the first word that is not a flag or a flag's value
    rest = []
    j = 0
    while j < len(argv):
        a = argv[j]
        if a.startswith("-") and len(a) > 1:
            name = a.lstrip("-").split("=", 1)[0]
            if name not in GLOBAL_FLAGS:
                raise UsageError(f"flag provided but not defined: -{name}")
            kind = GLOBAL_FLAGS[name][1]
            if kind != "bool" and "=" not in a:
                if j + 1 >= len(argv):
                    raise UsageError(f"flag needs an argument: --{name}")
                _parse_flags([a, argv[j + 1]], GLOBAL_FLAGS, g, 0)
                j += 2
                continue
            _parse_flags([a], GLOBAL_FLAGS, g, 0)
            j += 1
            continue
        rest = argv[j:]
        break
    return g, rest


def _setup_globals(g):
    if g.log_format not in (None, "text", "json"):
        raise UsageError(f"invalid log-format: {g.log_format} (want text or json)")
    log.fmt = g.log_format or "text"
    log.path = g.log
    log.debug_on = bool(g.debug)
    if g.rootless not in (None, "true", "false", "auto"):
        raise UsageError(f"invalid --rootless value {g.rootless!r}: want true, false or auto")


def default_root(g):
    if g.root:
        return os.path.abspath(g.root)
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and _honor_xdg(g):
        return os.path.join(xdg, "pyrunc")
    return "/run/pyrunc"


def _honor_xdg(g):
    """runc's rule for $XDG_RUNTIME_DIR: a user without privileges; root of a user namespace
    unless $USER says root (rootless podman runs the runtime as such a root)."""
    if g.rootless == "true" or os.geteuid() != 0:
        return True
    if g.rootless == "false":
        return False
    from .rootless import is_rootless
    return is_rootless("auto") and os.environ.get("USER", "") != "root"


def create_request(a):
    """The ops.create.Request of create's and run's command line."""
    from .ops.create import Request
    return Request(a.root, a.id, a.bundle or ".", console_socket=a.console_socket, pid_file=a.pid_file,
                   no_pivot=a.no_pivot, no_new_keyring=a.no_new_keyring, preserve_fds=a.preserve_fds,
                   rootless_mode=a.rootless_mode, cgroup_manager=a.cgroup_manager, pidfd_socket=a.pidfd_socket)


def version_text():
    try:
        from ._build import COMMIT
    except ImportError:
        COMMIT = ""
    # as runc: no commit line when the build did not know it
    commit = f"commit: {COMMIT}\n" if COMMIT and COMMIT != "unknown" else ""
    text = f"pyrunc version {__version__}\n{commit}spec: {SPEC_VERSION}\n"
    try:  # as runc: the libseccomp pyrunc compiles filters with
        from ._seccomp import lib
        v = lib.seccomp_version()
        text += f"libseccomp: {v.major}.{v.minor}.{v.micro}\n"
    except ImportError:
        pass
    return text


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        g, rest = parse(argv)
        if g.log_format or g.log:
            log.fmt = g.log_format or "text"
            log.path = g.log
        if g.version:
            sys.stdout.write(version_text())
            return 0
        if g.help or not rest or rest[0] in ("help", "h"):
            sys.stdout.write(USAGE)
            return 0
        _setup_globals(g)
        cmd = rest[0]
        if cmd in NOT_YET:
            raise UsageError(f"command {cmd!r} is not implemented yet in pyrunc {__version__}")
        if cmd not in COMMANDS:
            raise UsageError(f"no such command: {cmd}")
        modname, table, posnames, minpos, usage = COMMANDS[cmd]
        table = dict(table, help=("help", "bool"), h=("help", "bool"))
        a = Args(table, [p.lstrip("*") for p in posnames] + ["root", "rootless_mode", "cgroup_manager", "criu"])
        rest_args = posnames and posnames[-1].startswith("*")
        if rest_args:
            # ps: everything after the id goes to ps(1)
            pos = _parse_flags(rest[1:], table, a, len(posnames) - 1, stop_after=len(posnames) - 1)
            setattr(a, posnames[-1][1:], pos[len(posnames) - 1:])
            pos, posnames = pos[:len(posnames) - 1], posnames[:-1]
        else:
            pos = _parse_flags(rest[1:], table, a, len(posnames))
        if a.help:
            sys.stdout.write(f"usage: pyrunc {usage}\n")
            return 0
        if len(pos) < minpos:
            raise UsageError(f"{cmd}: missing container id (usage: pyrunc {usage})")
        if len(pos) > len(posnames):
            raise UsageError(f"{cmd}: unexpected arguments {pos[len(posnames):]} (usage: pyrunc {usage})")
        for name, value in zip(posnames, pos):
            setattr(a, name, value)
        a.root = default_root(g)
        a.rootless_mode = g.rootless
        # a container's manager is recorded at create: later commands use it, whatever flag
        a.cgroup_manager = "systemd" if g.systemd_cgroup else "fs"
        a.criu = g.criu
        mod = __import__(f"pyrunc.commands.{modname}", fromlist=["main"])
        return mod.main(a) or 0
    except PyruncError as e:
        log.error(e)
        return e.code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError as e:
        import traceback
        where = traceback.extract_tb(e.__traceback__)[-1]
        log.error(f"broken pipe ({where.filename.rsplit('/', 1)[-1]}:{where.lineno} {where.line})")
        return 1
    except (Exception, RecursionError) as e:
        # A failure pyrunc did not foresee is still one line (and everything the failed step
        # made has been undone by then); --debug logs the traceback.
        import traceback
        where = traceback.extract_tb(e.__traceback__)[-1]
        log.debug("".join(traceback.format_exception(e)))
        text = str(e).strip() or type(e).__name__
        log.error(f"internal error: {text} ({type(e).__name__} at "
                  f"{where.filename.rsplit('/', 1)[-1]}:{where.lineno})")
        return 1


def entry():
    # A call lives for milliseconds and makes few reference cycles: the cyclic garbage
    # collector would only scan every object pyrunc allocated, ~1 ms of each create
    # (docs/performance.md).  What stays alive longer (run and exec supervising their
    # process, events) turns it back on.
    import gc
    gc.disable()
    code = main()
    # the work is done: leave without the interpreter's teardown (module cleanup, the
    # garbage collector), ~2 ms of every call (docs/performance.md); nothing of pyrunc
    # waits for it: files are written with os.write and closed, only stdio may be buffered
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)

"""create: build a container and leave its init waiting on the exec fifo.

The operation is a sequence of steps; each step that makes something registers its undo on
an Undo (below, a small ExitStack), so that on any failure everything this call
made is undone, in reverse order,
before the error is reported: the init is killed (and poststop hooks run, as runc does once
the container began), mounts left in the runtime's namespace are detached, the cgroups and
the state directory are removed.  A second create with an id that exists fails before
touching anything of the first container.  On success the stack is dropped: all stays.

    prepare        the request checked, config.json loaded into the model
    state_dir      <root>/<id> made and locked (mkdir is the lock against a second create)
    cgroups        the manager makes the cgroups, device rules and resources
    exec_fifo      the fifo `start` opens, and the O_PATH fd the init reopens it through
    host_objects   what the host side makes for the executor (idmapped mount trees)
    launch         the plan compiled and the executor started from its sealed copy
    attach         the systemd driver's unit, started with the executor in it (which holds)
    between        after the init's pid is known, before it may go on: id maps
    ready          hooks and the seccomp listener served until the init is READY
    save           state.json and the front record, the pid file

Restore (CRIU) reuses these steps around a different launch.
"""

import os
import time

from ..errors import PyruncError, StateError, UsageError
from ..log import log


class Undo:
    __slots__ = ("_callbacks",)

    def __init__(self):
        self._callbacks = []

    def callback(self, fn, *args):
        self._callbacks.append((fn, args))

    def keep(self):
        self._callbacks = []

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self._callbacks = []
            return False
        while self._callbacks:
            fn, args = self._callbacks.pop()
            try:
                fn(*args)
            except BaseException as e:  # keep undoing; the first error is the one reported
                from .log import log
                log.debug(f"undo {getattr(fn, '__name__', fn)}: {e}")
        return False


class Request:
    """What create (and run) are asked: the command line's flags, or the Python API's."""
    __slots__ = ("root", "id", "bundle", "console_socket", "pid_file", "no_pivot", "no_new_keyring",
                 "preserve_fds", "rootless_mode", "cgroup_manager", "stdio", "pidfd_socket")

    def __init__(self, root, cid, bundle=".", console_socket=None, pid_file=None, no_pivot=False,
                 no_new_keyring=False, preserve_fds=0, rootless_mode=None, cgroup_manager="fs", stdio=None,
                 pidfd_socket=None):
        self.root, self.id, self.bundle = root, cid, bundle
        self.console_socket, self.pid_file = console_socket, pid_file
        self.no_pivot, self.no_new_keyring = bool(no_pivot), bool(no_new_keyring)
        self.preserve_fds = preserve_fds or 0
        self.rootless_mode, self.cgroup_manager = rootless_mode, cgroup_manager
        self.stdio = stdio  # the Python API: the container process's 0, 1, 2 (default: ours)
        self.pidfd_socket = pidfd_socket  # --pidfd-socket: receives a pidfd of the init


def _rfc3339(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%09dZ" % int((t % 1) * 1e9)


def listen_fds():
    """How many fds systemd socket activation passed us (LISTEN_FDS for our pid), as runc."""
    n = os.environ.get("LISTEN_FDS")
    if not n or os.environ.get("LISTEN_PID") != str(os.getpid()):
        return 0
    try:
        return max(int(n), 0)
    except ValueError:
        return 0


class Creation:
    """One create in progress: what the steps decided and made."""

    def __init__(self, req, spec=None, console=None):
        self.req = req
        self.spec = spec
        self.console = console  # run's own terminal relay (supervise.Console)
        self.console_socket = req.console_socket
        self.rootless = False
        self.preserve = 0
        self.extra_env = ()
        self.c = None
        self.cg = None
        self.fifo_fd = -1
        self.console_fd = -1
        self.tree_fds = {}
        self.shared_mounts = None
        self.rdt_plan = None
        self.rdt = None
        self.ex = None
        self.pid = 0
        self.created = _rfc3339(time.time())

    # ---- the steps ----
    def prepare(self):
        from .. import config
        from ..rootless import is_rootless
        from ..state import check_id
        req = self.req
        check_id(req.id)
        self.rootless = is_rootless(req.rootless_mode)
        preserve = req.preserve_fds
        if preserve < 0:
            raise UsageError("--preserve-fds must not be negative")
        # socket activation: fds 3..3+L-1 pass first, renumbered as they are, and the process
        # learns of them by LISTEN_FDS=L LISTEN_PID=1; --preserve-fds N keeps the next N
        listen = listen_fds()
        self.extra_env = (f"LISTEN_FDS={listen}", "LISTEN_PID=1") if listen else ()
        self.preserve = preserve + listen
        from ..fdutil import check_preserved
        check_preserved(self.preserve)
        bundle = os.path.abspath(req.bundle or ".")
        if not os.path.isdir(bundle):
            raise UsageError(f"bundle {bundle} is not a directory")
        self.spec = self.spec or config.load(bundle)
        spec = self.spec
        if self.rootless:
            from .. import rootless as rl
            rl.check(spec)
        if not os.path.isdir(spec.root_path):
            raise PyruncError(f"rootfs ({spec.root_path}) does not exist or is not a directory")
        if spec.intel_rdt is not None:
            from .. import intelrdt
            self.rdt_plan = intelrdt.plan(spec.intel_rdt, req.id, intelrdt.root())
        terminal = spec.process.terminal
        if terminal and not (self.console_socket or self.console):
            raise UsageError("process.terminal is true: --console-socket is required")
        if self.console_socket and not terminal:
            raise UsageError("--console-socket given but process.terminal is false")
        if self.console_socket:
            self.console_socket = os.path.abspath(self.console_socket)

    def state_dir(self, undo, host):
        """The state directory, locked, with a first record of the container ("creating"):
        from here on, whatever instant this process is killed at, `delete --force` finds
        what it made (the record is kept up to date until the final save)."""
        from .. import cgroups
        from ..fdutil import set_subreaper
        from ..state import Container
        req = self.req
        self.cg = cgroups.new(req.cgroup_manager, self.spec, req.id, host, self.rootless)
        self.cg.created = self.cg.planned()
        # As a subreaper, this process inherits the init when the executor's first stage
        # exits: a failed create then reaps it itself, leaving not even a zombie.  On success
        # the init passes on to our parent's subreaper (conmon, the shim) or pid 1 when we exit.
        set_subreaper()
        try:
            os.makedirs(req.root, 0o711, exist_ok=True)
        except OSError as e:
            raise PyruncError(f"cannot create the state root {req.root}: {e.strerror}")
        c = Container(req.root, req.id)
        try:
            os.mkdir(c.dir, 0o711)
        except FileExistsError:
            raise StateError(f"container with id {req.id!r} already exists")
        except OSError as e:
            raise PyruncError(f"cannot create the state directory {c.dir}: {e.strerror}")
        undo.callback(c.remove_dir)
        try:
            c.lock()
        except PyruncError:
            raise PyruncError(f"the state directory {c.dir} was removed while it was being made")
        self.c = c
        self.record()

    def cgroups(self, undo):
        spec = self.spec
        planned = list(self.cg.created)
        undo.callback(self.cg.undo)
        self.cg.create(spec.resources, spec.devices)
        if self.cg.created != planned:
            self.record()  # what it really made (a concurrent create may have made a parent)

    def exec_fifo(self, undo):
        from ..fdutil import inheritable_at
        c = self.c
        os.mkfifo(c.fifo, 0o622)
        os.chmod(c.fifo, 0o622)  # writable by the container's user, whatever our umask
        # the init gets an O_PATH descriptor: it needs no access to the state directory
        self.fifo_fd = inheritable_at(os.open(c.fifo, os.O_PATH | os.O_CLOEXEC), 3 + self.preserve)
        undo.callback(self._close_fifo_fd)

    def _close_console_fd(self):
        if self.console_fd >= 0:
            os.close(self.console_fd)
            self.console_fd = -1

    def _close_fifo_fd(self):
        if self.fifo_fd >= 0:
            os.close(self.fifo_fd)
            self.fifo_fd = -1

    def host_objects(self, undo):
        """What pyrunc opens on the host side for the executor, before the container's user
        namespace could stand in the way: the console socket (--console-socket, connected
        here: the executor's init runs as the container's root, which may not reach the
        engine's socket directory), and the bind mounts' trees where the init will not be
        privileged over the host's files (an idmapped mount; any bind when a new user
        namespace is made: a root-only source).  Each becomes a descriptor the init only moves
        into place."""
        spec = self.spec
        low = 3 + self.preserve
        if self.console_socket:
            from ..fdutil import connect_console
            self.console_fd = connect_console(self.console_socket, low)
            undo.callback(self._close_console_fd)
        for m in spec.mounts:
            if not m.is_bind():
                continue
            if m.idmapped():
                from ..idmounts import idmapped_tree
                fd = idmapped_tree(m, spec, low)
            elif spec.new_ns("user") and not self.rootless:
                from ..idmounts import plain_tree
                fd = plain_tree(m, spec, low)
            else:
                continue
            self.tree_fds[m.index] = fd
            undo.callback(os.close, fd)
        if not spec.has_ns("mount"):
            # the runtime's mount namespace is the container's: note what is there now
            from ..mountinfo import under
            self.shared_mounts = {"rootfs": spec.root_path, "before": sorted(under(spec.root_path))}

            def detach():
                from ..hostmounts import detach_new
                detach_new(spec.root_path, self.shared_mounts["before"])
            undo.callback(detach)
            self.record()

    def launch(self, undo, host):
        from ..compiler import Inputs, compile_create
        from ..executor import Executor
        spec, req = self.spec, self.req
        no_setgroups = mount_label = False
        if self.rootless:
            from ..idmap import groups_denied
            no_setgroups = groups_denied(spec.gid_mappings)
        if spec.mount_label:
            from ..lsm import check_mount_label
            mount_label = check_mount_label(spec.mount_label)
        console_fd = self.console.peer_fd(3 + self.preserve) if self.console else self.console_fd
        inp = Inputs(req.id, fifo_fd=self.fifo_fd, console_fd=console_fd,
                     runtime_env=[f"{k}={v}" for k, v in os.environ.items()],
                     no_pivot=req.no_pivot, no_new_keyring=req.no_new_keyring,
                     preserve_fds=self.preserve, extra_env=self.extra_env, rootless=self.rootless,
                     no_setgroups=no_setgroups,
                     cgroup_join=self.cg.create_join_args(), cgroup_mounts=self.cg.mount_sources(),
                     hold=self.cg.attach_pid,
                     tree_fds=self.tree_fds,
                     mount_label=mount_label or None)
        plan = compile_create(spec, host, inp)
        if log.debug_on:
            log.debug("plan:\n" + plan.describe())
        self.ex = Executor(plan, self.preserve, self.req.stdio)
        undo.callback(self._kill)
        # the executor has its copies
        self._close_fifo_fd()
        self._close_console_fd()
        if self.console:
            self.console.close_peer()
        for fd in self.tree_fds.values():
            os.close(fd)
        self.tree_fds = {}

    def _kill(self):
        self.ex.kill()
        # as runc: a create that failed after the container began also runs poststop
        if self.ex.pid and self.spec.hooks["poststop"]:
            from .. import hooks as hk
            hk.run_all_logged("poststop", self.spec.hooks["poststop"],
                              hk.state_json(self.req.id, "stopped", 0, self.spec.bundle, self.spec.annotations),
                              self.spec.bundle)

    def attach(self):
        """The systemd driver: the unit is started with the executor's first stage in it
        (holding until then), so that the init is born in the unit."""
        if self.cg.attach_pid:
            self.cg.attach(self.ex.stage1)
            self.record()
            self.ex.release()

    def between(self, undo):
        """After the init's pid is known, before it goes on."""
        self.pid = self.ex.wait_pid()
        self.record()  # the init may outlive this process from here on: note it first
        self.cg.placed()  # the init is in its cgroups (the executor joined them)
        spec = self.spec
        if self.rdt_plan:
            # (as runc: with the cgroups, by the runtime; the init's children inherit its group)
            from .. import intelrdt
            self.rdt = intelrdt.apply(self.rdt_plan, self.pid)
            undo.callback(intelrdt.destroy, self.rdt)
            self.record()
        if spec.process.oom_score_adj is not None:
            # from the host side, before the init enters a user namespace (as runc)
            from ..fdutil import write_oom_score_adj
            write_oom_score_adj(self.pid, spec.process.oom_score_adj)
        if spec.new_ns("user"):
            from ..idmap import write
            write(self.pid, spec.uid_mappings, spec.gid_mappings)
        if spec.net_devices:
            # (as runc: once the init's network namespace exists, before the hooks; a failure
            # kills the init, and the kernel takes the devices back with its namespace)
            from ..netdevices import move
            move(spec.net_devices, self.pid)
        if self.req.pidfd_socket:
            from ..fdutil import send_pidfd
            send_pidfd(os.path.abspath(self.req.pidfd_socket), self.pid, "standard")
        self.ex.go()

    def ready(self):
        spec, req, pid = self.spec, self.req, self.pid
        hooks = spec.hooks

        def on_hooks():
            """The runtime's create hooks; then the states of the init's own hooks."""
            from .. import hooks as hk
            state = hk.state_json(req.id, "creating", pid, spec.bundle, spec.annotations)
            # prestart (deprecated) and createRuntime: the runtime namespace, cwd the bundle
            hk.run("prestart", hooks["prestart"], state, spec.bundle)
            hk.run("createRuntime", hooks["createRuntime"], state, spec.bundle)
            created = hk.state_json(req.id, "created", pid, spec.bundle, spec.annotations)
            return state, created

        def on_seccomp(fd):
            from .. import SPEC_VERSION
            from ..seccomp import send_listener
            state = {"ociVersion": SPEC_VERSION, "id": req.id, "status": "creating", "pid": pid,
                     "bundle": spec.bundle, "annotations": spec.annotations}
            send_listener(fd, pid, spec.seccomp, state)
        self.ex.wait_ready(on_hooks, on_seccomp)

    def record(self, final=False):
        """Write what is known of the container: while creating, state.json alone (marked
        "creating"); at the end, with the front's record."""
        from ..state import proc_stat
        spec, req, pid = self.spec, self.req, self.pid
        starttime = 0
        if pid:
            st = proc_stat(pid)
            if st is None:
                raise PyruncError("container init exited before it was ready")
            starttime = st[1]
        linux = spec.linux_doc()
        c = self.c
        c.data = {
            "id": req.id, "pid": pid, "starttime": starttime, "bundle": spec.bundle, "rootfs": spec.root_path,
            "created": self.created, "owner": "",
            "annotations": spec.annotations,
            "cgroup": self.cg.record(),
            "no_new_keyring": req.no_new_keyring,  # exec follows create's choice, as runc
            "shared_mounts": self.shared_mounts,
            "intel_rdt": self.rdt,
            # what checkpoint tells CRIU is mounted from outside the container (ops/checkpoint.py)
            "criu": {"binds": [m.destination for m in spec.mounts if m.is_bind()], "masked": spec.masked_paths},
            "resources": spec.resources, "devices": linux.get("devices") or [],
            "config": {"process": spec.process.doc, "hooks": spec.hooks_doc(),
                       "seccomp": spec.seccomp, "namespaces": linux.get("namespaces") or [],
                       "personality": spec.personality, "memory_policy": spec.memory_policy},
        }
        if not final:
            c.data["creating"] = True
        c._cg = self.cg
        c.save(front=final)

    def save(self):
        from ..fdutil import write_pid_file
        self.record(final=True)
        if self.req.pid_file:
            write_pid_file(self.req.pid_file, self.pid)


def create(req, spec=None, console=None, keep_lock=False):
    """Create the container of req; returns its state.Container (locked with keep_lock).
    console: run's terminal relay, which receives the pty instead of --console-socket."""
    from ..host import host as get_host
    cr = Creation(req, spec, console)
    cr.prepare()
    host = get_host()
    with Undo() as undo:
        cr.state_dir(undo, host)
        cr.cgroups(undo)
        cr.exec_fifo(undo)
        cr.host_objects(undo)
        cr.launch(undo, host)
        cr.attach()
        cr.between(undo)
        cr.ready()
        cr.save()
        undo.keep()  # made: nothing to undo
    if not keep_lock:
        cr.c.unlock()
    return cr.c

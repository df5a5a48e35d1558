"""pyrunc from Python: containers as objects (docs/api.md).

    import pyrunc
    with pyrunc.Container.create("web", bundle="/srv/bundles/web") as c:
        c.start()
        print(c.exec(["cat", "/etc/hostname"], capture=True))
        c.kill("TERM")
        print(c.wait())          # the process's exit code

The same operations as the command line (pyrunc/ops; start, kill, pause, resume and delete
of the command line are this module's calls), without a process per call, in a caller that
lives on: no lock is held past a call, the caller's child-subreaper flag is
left as it was found (it is set only while a container is made, so that its init becomes
the caller's child and `wait` can read its exit status), no signal handler is installed,
no descriptor is left open.  One Container may be used from several threads: its calls
are serialised.  Errors are pyrunc.errors classes (PyruncError and its kinds).
"""

import _thread  # (not threading: ~4 ms of imports, which the command line would pay)
import os

from .errors import PyruncError, StateError, UsageError

DEFAULT_ROOT = "/run/pyrunc"


def spec(args=None, rootless=False):
    """A config.json document as `pyrunc spec` writes it (a dict to change and pass to
    Container.create(spec=...)); args replaces process.args."""
    from .commands.spec import default_spec
    cfg = default_spec(rootless=rootless)
    if args is not None:
        cfg["process"]["args"] = list(args)
    return cfg


class _Subreaper:
    """The caller is a child subreaper while a container's init or an exec'd process is
    made (their parent, the executor's first stage, exits early: they are re-parented to
    the caller, whose child they stay), and is left as it was afterwards.  The flag is the
    process's: threads making containers at the same time share one setting, counted."""

    _lock = _thread.allocate_lock()
    _users = 0
    _was = 0

    def __enter__(self):
        cls = _Subreaper
        with cls._lock:
            if cls._users == 0:
                from .fdutil import is_subreaper
                cls._was = is_subreaper()
            cls._users += 1
        return self

    def __exit__(self, *exc):
        cls = _Subreaper
        with cls._lock:
            cls._users -= 1
            if cls._users == 0 and not cls._was:
                from .fdutil import clear_subreaper
                clear_subreaper()
        return False


class Container:
    """One container in a state root (default /run/pyrunc, the command line's)."""

    def __init__(self, cid, root=None):
        self.id = cid
        self.root = os.path.abspath(root or DEFAULT_ROOT)
        self._mutex = _thread.RLock()
        self._child = None  # the init's pid when this process made it (its parent)
        self._exit = None

    def __repr__(self):
        return f"Container({self.id!r}, root={self.root!r})"

    # ---- making ----
    @classmethod
    def create(cls, cid, bundle=None, spec=None, root=None, *, stdio=None, systemd_cgroup=False,
               console_socket=None, pid_file=None, no_pivot=False, no_new_keyring=False, preserve_fds=0,
               rootless=None):
        """Create the container (status `created`: its process waits for start).  bundle: a
        directory with config.json, or, with spec (a config.json dict), the directory that
        relative paths of spec (root.path) are relative to (default: the current one).
        stdio: three fds for the process's stdin, stdout, stderr (default: this process's)."""
        from . import config
        from .ops.create import Request, create
        bundle = os.path.abspath(bundle or ".")
        self = cls(cid, root)
        req = Request(self.root, cid, bundle, console_socket=console_socket, pid_file=pid_file,
                      no_pivot=no_pivot, no_new_keyring=no_new_keyring, preserve_fds=preserve_fds,
                      rootless_mode={None: None, True: "true", False: "false"}[rootless],
                      cgroup_manager="systemd" if systemd_cgroup else "fs", stdio=stdio)
        model = None
        if spec is not None:
            if not isinstance(spec, dict):
                raise UsageError("spec: want a config.json document (a dict)")
            model = config.from_document(spec, bundle)
        with _Subreaper():
            c = create(req, model)
        self._child = c.pid
        return self

    @classmethod
    def load(cls, cid, root=None):
        """A container that exists already (made by the command line, or elsewhere)."""
        from .state import Container as State
        self = cls(cid, root)
        State.load(self.root, cid)  # NotFoundError when there is none
        return self

    # ---- the state ----
    def _state(self, lock=False):
        from .state import Container as State
        return State.load(self.root, self.id, lock=lock)

    def state(self):
        """The state document of `pyrunc state`, as a dict."""
        with self._mutex:
            return self._state().oci_state()

    @property
    def status(self):
        return self.state()["status"]

    @property
    def pid(self):
        return self.state()["pid"]

    # ---- operations ----
    def start(self):
        from .ops.start import start
        with self._mutex:
            c = self._state(lock=True)
            with c.locked():
                start(c)

    def kill(self, sig="SIGTERM", all=False):
        """Send a signal (a name with or without SIG, or a number) to the init, or with all to
        every process of the container."""
        from .ops.kill import kill, parse_signal
        with self._mutex:
            c = self._state(lock=True)
            with c.locked():
                kill(c, parse_signal(str(sig)), all)

    def pause(self):
        from .ops.pause import pause
        with self._mutex:
            c = self._state(lock=True)
            with c.locked():
                pause(c)

    def resume(self):
        from .ops.pause import resume
        with self._mutex:
            c = self._state(lock=True)
            with c.locked():
                resume(c)

    def update(self, resources):
        """Change linux.resources (a dict in config.json's form), as `pyrunc update --resources`."""
        from .commands.update import validate_request
        from .ops.update import update
        with self._mutex:
            c = self._state(lock=True)
            with c.locked():
                if c.status() == "stopped":
                    raise StateError(f"cannot update a stopped container: {self.id}")
                update(c, validate_request(resources))

    def ps(self):
        """The host pids of the container's processes."""
        with self._mutex:
            c = self._state()
            c.cgroup.require("ps", c.id)
            return c.cgroup.pids() if c.status() != "stopped" else []

    def stats(self):
        """`pyrunc events --stats` data: cpu, memory, pids, blkio, ... as runc names them."""
        with self._mutex:
            c = self._state()
            if c.status() == "stopped":
                raise StateError(f"container {self.id} is not running")
            c.cgroup.require("events", c.id)
            return c.cgroup.stats()

    def exec(self, args, env=(), cwd=None, user=None, capture=False, stdio=None, timeout=None):
        """Run a process in the running container and wait for it: its exit code, or with
        capture (stdout text, stderr text, exit code).  user: "uid[:gid]"; env entries
        replace the container's of the same name, as `exec --env`; stdio: three fds for
        its stdin, stdout and stderr (default: this process's); timeout: seconds
        (subprocess.TimeoutExpired, the process left running)."""
        import tempfile

        from .cli import _EXEC, Args
        from .commands.exec import process_doc
        from .config import check_process
        from .ops.exec import Request, check_status, execute
        a = Args(_EXEC, ("args",))  # the command line's own path: the same defaults and checks
        a.args, a.env, a.cwd = list(args), list(env), cwd
        a.user = None if user is None else str(user)
        with self._mutex:
            c = self._state(lock=True)
            try:
                status = check_status(c, False)
                process = check_process(process_doc(a, c), "process", "exec")
                if not capture:
                    with _Subreaper():
                        pid = execute(c, Request(process, stdio=stdio), status)
                    return _wait_child(pid, timeout)
                with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
                        open(os.devnull, "rb") as null:
                    with _Subreaper():
                        pid = execute(c, Request(process, stdio=(null.fileno(), out.fileno(), err.fileno())),
                                      status)
                    code = _wait_child(pid, timeout)
                    out.seek(0)
                    err.seek(0)
                    return out.read().decode(errors="replace"), err.read().decode(errors="replace"), code
            finally:
                c.unlock()

    def checkpoint(self, image_path, criu=None, **options):
        """Save the container's processes with CRIU into image_path, as `pyrunc checkpoint`
        (docs/checkpoint.md); options: the flags' names (leave_running=True, work_path=...,
        pre_dump=True, tcp_established=True, ...); criu: the criu binary."""
        from .ops.checkpoint import Options, checkpoint
        o = Options(image_path=image_path, criu=criu, **options)
        with self._mutex:
            c = self._state(lock=True)
            with c.locked():
                checkpoint(c, o)
            if self._child and not (o.leave_running or o.pre_dump):  # CRIU ended our child: reap it
                try:
                    self._exit = _exit_code(os.waitpid(self._child, 0)[1])
                except ChildProcessError:
                    pass
                self._child = None

    @classmethod
    def restore(cls, cid, image_path, bundle=None, root=None, *, criu=None, console_socket=None, pid_file=None,
                systemd_cgroup=False, **options):
        """A container restored from image_path with CRIU (running, as `pyrunc restore -d`),
        from the bundle's config; options as checkpoint's (work_path, tcp_established, ...).
        Its init is this process's child, as a created one is: wait() reads its exit code."""
        from .ops.checkpoint import Options
        from .ops.create import Request
        from .ops.restore import restore
        self = cls(cid, root)
        req = Request(self.root, cid, os.path.abspath(bundle or "."), console_socket=console_socket,
                      pid_file=pid_file, cgroup_manager="systemd" if systemd_cgroup else "fs")
        with _Subreaper():
            restore(req, Options(image_path=image_path, criu=criu, **options), detach=True)
        self._child = self.pid
        return self

    def wait(self, timeout=None):
        """Wait until the container's process has exited: its exit code (128+N for signal N)
        when this process made the container, else None (another process is its parent)."""
        with self._mutex:
            if self._exit is not None:
                return self._exit
            if self._child:
                self._exit = _wait_child(self._child, timeout)
                self._child = None
                return self._exit
            c = self._state()
            pidfd = c.pidfd()
            if pidfd is None:
                return None
            try:
                import select
                p = select.poll()
                p.register(pidfd, select.POLLIN)
                if not p.poll(None if timeout is None else int(timeout * 1000)):
                    import subprocess
                    raise subprocess.TimeoutExpired(f"container {self.id}", timeout)
            finally:
                os.close(pidfd)
            return None

    def delete(self, force=False):
        """Delete the container (with force also a running one: it is killed)."""
        from .ops.delete import delete
        with self._mutex:
            delete(self.root, self.id, force)
            if self._child:  # the init was ours: reap it, now that it is gone
                try:
                    self._exit = _exit_code(os.waitpid(self._child, 0)[1])
                except ChildProcessError:
                    pass
                self._child = None

    # ---- with Container.create(...) as c: deleted (forcibly) at the end ----
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        try:
            self.delete(force=True)
        except PyruncError:
            if exc[0] is None:
                raise
        return False


def run(cid, bundle=None, spec=None, root=None, **create_args):
    """create, start, wait and delete: the exit code of the container's process."""
    with Container.create(cid, bundle, spec, root, **create_args) as c:
        c.start()
        return c.wait()


def _exit_code(status):
    return os.waitstatus_to_exitcode(status) if not os.WIFSIGNALED(status) else 128 + os.WTERMSIG(status)


def _wait_child(pid, timeout=None):
    """The exit code of our child pid, waiting at most timeout seconds (TimeoutExpired)."""
    if timeout is None:
        return _exit_code(os.waitpid(pid, 0)[1])
    import select
    import subprocess
    fd = os.pidfd_open(pid)
    try:
        if not select.select([fd], [], [], timeout)[0]:
            raise subprocess.TimeoutExpired(f"pid {pid}", timeout)
    finally:
        os.close(fd)
    return _exit_code(os.waitpid(pid, 0)[1])

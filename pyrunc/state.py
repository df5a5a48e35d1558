"""Container state on disk: one directory per container under --root.

    <root>/<id>/state.json   pyrunc's record of the container, written atomically
    <root>/<id>/front        the same facts for pyrunc-front, in a fixed format (front.py)
    <root>/<id>/exec.fifo    exists between create and start

Every mutating command holds an flock on the container's directory (`with c.locked():`).
The status is derived, never trusted: the init pid plus its start time (field 22 of
/proc/<pid>/stat), so that a recycled pid is never taken for the container; the fifo tells
created from running; the cgroup manager's freezer tells paused.

state.json says that pyrunc wrote it ("runtime": "pyrunc").  Engines share one --root
between runtimes (Docker does): a directory whose state.json another runtime wrote is never
read as a pyrunc container, signalled or removed; every command refuses it by name.
"""

import errno
import fcntl
import os

from . import fastjson
from .errors import ForeignContainerError, NotFoundError, PyruncError, StateError

_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.")
MAX_ID = 255  # a container id is a directory name
FORMAT = 2
STATE_MAX = 16 << 20
# every file pyrunc puts in a container's directory, removed with it
FILES = ("state.json", "state.json.tmp", "front", "front.tmp", "exec.fifo")


def check_id(cid):
    """Refuse ids that could escape the state directory or not fit in it."""
    if cid is None or cid == "":
        raise PyruncError("container id cannot be empty")
    if len(cid.encode(errors="surrogateescape")) > MAX_ID:
        raise PyruncError(f"invalid container id: {len(cid.encode(errors='surrogateescape'))} bytes long, "
                          f"at most {MAX_ID}")
    if cid in (".", "..") or not _ID_CHARS.issuperset(cid):
        shown = cid if len(cid) < 80 else cid[:77] + "..."
        raise PyruncError(f"invalid container id format: {shown!r} "
                          "(letters, digits, '_', '+', '-' and '.' only)")


def proc_stat(pid):
    """(state letter, start time) of a pid, or None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError as e:
        if e.errno in (errno.ESRCH, errno.ENOENT):
            return None
        raise
    fields = data[data.rindex(b")") + 2:].split()
    return fields[0].decode(), int(fields[19])


def _ours(data):
    """Did pyrunc write this state document?  (Also the format before the marker: pid,
    starttime and cgroups as pyrunc 0.1 wrote them.)"""
    if not isinstance(data, dict):
        return False
    if data.get("runtime") == "pyrunc":
        return True
    return isinstance(data.get("starttime"), int) and isinstance(data.get("cgroups"), dict) \
        and "init_process_pid" not in data


def _legacy(data):
    """A state of pyrunc 0.1 in today's form."""
    data = dict(data)
    data["runtime"] = "pyrunc"
    data["cgroup"] = {"manager": "fs", "paths": data.pop("cgroups", None) or {},
                      "created": data.pop("cgroups_created", None) or []}
    return data


class Container:
    FILES = FILES  # every file of the directory (front.py lists them for the front)

    def __init__(self, root, cid):
        self.root = root
        self.id = cid
        self.dir = os.path.join(root, cid)
        self.state_path = os.path.join(self.dir, "state.json")
        self.fifo = os.path.join(self.dir, "exec.fifo")
        self.data = None
        self._lockfd = None
        self._cg = None

    # ----- loading and saving -----
    @classmethod
    def load(cls, root, cid, lock=False):
        check_id(cid)
        c = cls(root, cid)
        if lock:
            c.lock()
        try:
            c.data = c._read()
        except BaseException:
            c.unlock()
            raise
        return c

    def _read(self):
        try:
            fd = os.open(self.state_path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except FileNotFoundError:
            raise NotFoundError(f"container {self.id!r} does not exist")
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise ForeignContainerError(f"container {self.id!r}: its state.json is a symlink; "
                                            "pyrunc does not touch it")
            raise PyruncError(f"container {self.id!r}: cannot read its state: {e.strerror}")
        try:
            raw = os.read(fd, STATE_MAX + 1)
        finally:
            os.close(fd)
        try:
            data = fastjson.loads(raw)
        except ValueError as e:
            raise PyruncError(f"container {self.id!r}: corrupt state file: {e}")
        if not _ours(data):
            raise ForeignContainerError(
                f"container {self.id!r} was not created by pyrunc (its state in {self.dir} belongs to "
                "another runtime): pyrunc does not touch it")
        if "cgroup" not in data:
            data = _legacy(data)
        return data

    def save(self, front=True):
        """Write state.json, then the front's record (a reader never sees a half file).
        front=False (a create in progress): no record, so the front hands every call to
        Python, which knows a container still "creating"."""
        self.data["runtime"] = "pyrunc"
        self.data["format"] = FORMAT
        _atomic_write(self.state_path, fastjson.dumps(self.data).encode())
        if front:
            from .front import record
            _atomic_write(os.path.join(self.dir, "front"), record(self))

    def lock(self):
        try:
            fd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise NotFoundError(f"container {self.id!r} does not exist")
        fcntl.flock(fd, fcntl.LOCK_EX)
        self._lockfd = fd

    def unlock(self):
        if self._lockfd is not None:
            os.close(self._lockfd)
            self._lockfd = None

    def locked(self):
        """with c.locked(): ... -- the container's lock until the block ends (taken here if
        load(lock=True) did not take it already), released then in every case."""
        return _Held(self)

    # ----- status -----
    @property
    def pid(self):
        return self.data.get("pid", 0) if self.data else 0

    @property
    def cgroup(self):
        """The cgroup manager of this container (the one recorded at create)."""
        if self._cg is None:
            from .cgroups import from_record
            self._cg = from_record(self.data.get("cgroup"))
        return self._cg

    def init_alive(self):
        pid = self.pid
        if not pid:
            return False
        st = proc_stat(pid)
        return st is not None and st[1] == self.data.get("starttime") and st[0] not in ("Z", "X")

    def frozen(self):
        """Is the container frozen (or freezing)?  From the freezer file the cgroup manager
        recorded at create: status needs no manager loaded."""
        fz = (self.data.get("cgroup") or {}).get("freezer")
        if fz is None:
            if "freezer" in (self.data.get("cgroup") or {}):
                return False  # recorded: no freezer
            return self.cgroup.frozen()  # a record without it
        try:
            with open(fz["file"]) as f:
                return f.read().strip() in fz["frozen"]
        except OSError:
            return False

    def cgroup_join(self):
        """[(version, directory)] the executor joins (exec), as recorded at create."""
        rec = self.data.get("cgroup") or {}
        if "join" in rec:
            return [tuple(j) for j in rec["join"]]
        return self.cgroup.join_args()

    def status(self):
        if not self.init_alive():
            return "stopped"
        if self.data.get("creating"):
            return "creating"  # a create that has not finished (or died: delete --force)
        if self.frozen():
            return "paused"  # before created, as runc: a created container can be paused
        if os.path.exists(self.fifo) and not self._exec_done():
            return "created"
        return "running"

    def _exec_done(self):
        """Has the init exec'd the container's program?  Until then it is pyrunc-init (the
        executor names itself so).  A `start` killed after it let the init go leaves the
        exec fifo behind: the container runs, and says so."""
        try:
            with open(f"/proc/{self.pid}/comm", "rb") as f:
                return f.read().rstrip(b"\n") != b"pyrunc-init"
        except OSError:
            return False

    def require_status(self, *allowed, msg=None):
        st = self.status()
        if st not in allowed:
            raise StateError((msg or "container {id} is {status}").format(id=self.id, status=st))
        return st

    def pidfd(self):
        """A pidfd of the init, checked against the saved start time, or None if gone."""
        from .fdutil import pidfd_open
        pid = self.pid
        if not pid:
            return None
        fd = pidfd_open(pid)
        if fd is None:
            return None
        # the pidfd pins this pid: if the start time matches now, the fd is our init
        if not self.init_alive():
            os.close(fd)
            return None
        return fd

    def oci_state(self, status=None):
        """The state document of `pyrunc state` (runtime-spec state plus runc's fields)."""
        from . import SPEC_VERSION
        d = self.data
        status = status or self.status()
        out = {
            "ociVersion": SPEC_VERSION,
            "id": self.id,
            "pid": d.get("pid", 0) if status != "stopped" else 0,
            "status": status,
            "bundle": d.get("bundle", ""),
            "rootfs": d.get("rootfs", ""),
            "created": d.get("created", ""),
            "owner": d.get("owner", ""),
        }
        if d.get("annotations"):
            out["annotations"] = d["annotations"]
        return out

    def render_state(self, status=None):
        return fastjson.dumps(self.oci_state(status), indent=2) + "\n"

    def remove_dir(self):
        criu_root = os.path.join(self.dir, "criu-root")
        if os.path.isdir(criu_root):  # a restore killed while CRIU had the rootfs (ops/restore.py)
            from ._native import lib
            lib.pyrunc_detach_mount(criu_root.encode())
            try:
                os.rmdir(criu_root)
            except OSError:
                pass
        for name in FILES:
            try:
                os.unlink(os.path.join(self.dir, name))
            except FileNotFoundError:
                pass
        try:
            os.rmdir(self.dir)
        except FileNotFoundError:
            pass
        except OSError as e:
            self.unlock()
            raise PyruncError(f"cannot remove the state directory {self.dir}: {e.strerror}")
        self.unlock()


class _Held:
    __slots__ = ("c",)

    def __init__(self, c):
        self.c = c

    def __enter__(self):
        if self.c._lockfd is None:
            self.c.lock()
        return self.c

    def __exit__(self, *exc):
        self.c.unlock()
        return False


def _atomic_write(path, data):
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        from .fdutil import write_all
        write_all(fd, data)
    finally:
        os.close(fd)
    os.rename(tmp, path)


def private_pid_ns(data):
    """Does the container (its state data) have a pid namespace of its own (a new one)?"""
    for n in (data.get("config") or {}).get("namespaces") or ():
        if n.get("type") == "pid":
            return not n.get("path")
    return False


def list_ids(root):
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if os.path.isfile(os.path.join(root, n, "state.json")))

"""Container state on disk: one directory per container under --root.

    <root>/<id>/state.json   written atomically (temp file + rename)
    <root>/<id>/exec.fifo    exists between create and start

Every mutating command holds an flock on the container's directory.  The status is derived,
never trusted: the init pid plus its start time (field 22 of /proc/<pid>/stat), so that a
recycled pid is never taken for the container; the fifo tells created from running; the
freezer tells paused.
"""

import errno
import fcntl
import os

from . import fastjson

from .errors import PyruncError

_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.")
MAX_ID = 255  # a container id is a directory name


def check_id(cid):
    """Refuse ids that could escape the state directory or not fit in it."""
    if cid is None or cid == "":
        raise PyruncError("container id cannot be empty")
    if len(cid.encode()) > MAX_ID:
        raise PyruncError(f"invalid container id: {len(cid.encode())} bytes long, at most {MAX_ID}")
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


class Container:
    def __init__(self, root, cid):
        self.root = root
        self.id = cid
        self.dir = os.path.join(root, cid)
        self.state_path = os.path.join(self.dir, "state.json")
        self.fifo = os.path.join(self.dir, "exec.fifo")
        self.data = None
        self._lockfd = None

    # ----- loading and saving -----
    @classmethod
    def load(cls, root, cid, lock=False):
        check_id(cid)
        c = cls(root, cid)
        if lock:
            c.lock()
        try:
            with open(c.state_path, "rb") as f:
                c.data = fastjson.loads(f.read())
        except FileNotFoundError:
            c.unlock()
            raise PyruncError(f"container {cid!r} does not exist")
        except ValueError as e:
            c.unlock()
            raise PyruncError(f"container {cid!r}: corrupt state file: {e}")
        return c

    def save(self):
        tmp = self.state_path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, fastjson.dumps(self.data).encode())
        finally:
            os.close(fd)
        os.rename(tmp, self.state_path)

    def lock(self):
        try:
            fd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise PyruncError(f"container {self.id!r} does not exist")
        fcntl.flock(fd, fcntl.LOCK_EX)
        self._lockfd = fd

    def unlock(self):
        if self._lockfd is not None:
            os.close(self._lockfd)
            self._lockfd = None

    # ----- status -----
    @property
    def pid(self):
        return self.data.get("pid", 0) if self.data else 0

    def init_alive(self):
        pid = self.pid
        if not pid:
            return False
        st = proc_stat(pid)
        return st is not None and st[1] == self.data.get("starttime") and st[0] not in ("Z", "X")

    def status(self):
        if not self.init_alive():
            return "stopped"
        if self._frozen():
            return "paused"  # before created, as runc: a created container can be paused
        if os.path.exists(self.fifo):
            return "created"
        return "running"

    def cgroup_paths(self, what):
        """The container's cgroups, for a command that needs them: a rootless container
        that could not have one gets a clear error instead of an empty answer."""
        paths = self.data.get("cgroups") or {}
        if not paths:
            raise PyruncError(f"{what}: container {self.id} has no cgroup (it was created rootless "
                              "without a cgroup this user can write)")
        return paths

    def _frozen(self):
        # here rather than in cgroups (which freezes and thaws): state is on the hot path
        # and needs nothing else of that module
        paths = self.data.get("cgroups") or {}
        if paths.get("freezer"):
            f, frozen = os.path.join(paths["freezer"], "freezer.state"), ("FROZEN", "FREEZING")
        elif paths.get("unified"):
            f, frozen = os.path.join(paths["unified"], "cgroup.freeze"), ("1",)
        else:
            return False
        try:
            with open(f) as fh:
                return fh.read().strip() in frozen
        except OSError:
            return False

    def pidfd(self):
        """A pidfd of the init, checked against the saved start time, or None if gone."""
        pid = self.pid
        if not pid:
            return None
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            return None
        except OSError as e:
            if e.errno == errno.EINVAL:  # the pid is still held but its task is gone
                return None
            raise
        # the pidfd pins this pid: if the start time matches now, the fd is our init
        if not self.init_alive():
            os.close(fd)
            return None
        return fd

    def oci_state(self):
        """The state document of `pyrunc state` (runtime-spec state plus runc's fields)."""
        from . import SPEC_VERSION
        d = self.data
        status = self.status()
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

    def remove_dir(self):
        for name in ("state.json", "state.json.tmp", "exec.fifo"):
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


def list_ids(root):
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if os.path.isfile(os.path.join(root, n, "state.json")))

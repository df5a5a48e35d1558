"""The cgroupfs manager: the container's cgroup in every mounted hierarchy (v1, hybrid, v2).

`linux.cgroupsPath` is honoured as runc's cgroupfs driver honours it (paths_for).
There is no class per layout: each controller is written in the format of the hierarchy that
holds it (resources.Dirs maps controller -> directory and version), which covers v1, pure v2
and every hybrid mix with one code path.  On v2 the controllers are enabled in
cgroup.subtree_control on the way down (pure v2: all, from the root, as runc; hybrid: only
those the config needs, only in cgroups pyrunc made).  The executor joins the cgroups itself
(CGROUP_JOIN), so all resource writes happen before the init runs a single instruction.
"""

import os
import time

from ..config import clean
from ..errors import CgroupError
from ..fdutil import read_text, write_file


def paths_for(cgroups_path, cid, hs, own=None):
    """{hierarchy key: host directory} of the container's cgroup: an absolute cgroupsPath
    from each hierarchy's root; a relative one, or the id when there is none, under the
    caller's own cgroup in that hierarchy."""
    inner = cgroups_path if cgroups_path else cid
    out = {}
    if inner.startswith("/"):
        for h in hs:
            out[h.key] = h.mountpoint + clean(inner)
        return out
    if own is None:
        from ..host import own_cgroups
        own = own_cgroups()
    for h in hs:
        mine = own.get("" if h.version == 2 else h.key, "/")
        if h.mountroot != "/" and mine.startswith(h.mountroot):
            mine = mine[len(h.mountroot):] or "/"
        out[h.key] = h.mountpoint + clean(mine + "/" + inner)
    return out


def _write(path, value):
    write_file(path, value, f"cgroup: write {value!r} to {path}", error=CgroupError)


def _mkdirs(path, created):
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        _mkdirs(parent, created)
    try:
        os.mkdir(path, 0o755)
        created.append(path)
    except FileExistsError:
        pass


def _copy_if_empty(dirpath, name):
    """A v1 cpuset with empty cpus/mems admits no process: give it its parent's.  A parent
    that a concurrent create has just made may still be empty: wait for it to be filled."""
    f = os.path.join(dirpath, name)
    if read_text(f):
        return
    deadline = time.monotonic() + 2.0
    while True:
        value = read_text(os.path.join(os.path.dirname(dirpath), name))
        if value or time.monotonic() > deadline:
            break
        time.sleep(0.002)
    with open(f, "w") as fh:
        fh.write(value or "")


def _ancestors(top, path):
    """The directories from below top down to path."""
    rel = path[len(top):].strip("/")
    out, d = [], top
    for part in rel.split("/") if rel else []:
        d = os.path.join(d, part)
        out.append(d)
    return out


def _refuse_frozen(key, path):
    """A frozen cgroup would freeze the container's init as it joins it: create would wait for
    it forever.  Refused, as runc refuses it."""
    if key == "freezer":
        frozen = read_text(os.path.join(path, "freezer.state")) in ("FROZEN", "FREEZING")
    else:
        events = read_text(os.path.join(path, "cgroup.events")) or ""
        frozen = "frozen 1" in events.splitlines() or read_text(os.path.join(path, "cgroup.freeze")) == "1"
    if frozen:
        raise CgroupError(f"container's cgroup unexpectedly frozen ({path})")


def _populated(path, ours=()):
    procs = (read_text(os.path.join(path, "cgroup.procs")) or "").split()
    return any(int(p) not in ours for p in procs)


def _enable_in(d, wanted):
    """Enable what d has of the wanted controllers for its children.  As runc: when they
    cannot be enabled together, each alone, and one that cannot is left off (a cgroup not
    ours to change: a rootless container's ancestors, systemd's slices); a resource that
    needs it fails later, naming its file."""
    avail = set((read_text(os.path.join(d, "cgroup.controllers")) or "").split())
    on = set((read_text(os.path.join(d, "cgroup.subtree_control")) or "").split())
    missing = [c for c in sorted(wanted) if c in avail and c not in on]
    if not missing:
        return
    f = os.path.join(d, "cgroup.subtree_control")
    try:
        _write(f, " ".join("+" + c for c in missing))
    except CgroupError:
        for c in missing:
            try:
                _write(f, "+" + c)
            except CgroupError:
                pass


def _enable_v2(h, leaf, wanted, created, own_only):
    """Enable the wanted controllers in cgroup.subtree_control of every ancestor of leaf in
    the cgroup2 hierarchy h (only those not enabled yet are written).

    On a pure v2 host this goes from the hierarchy's root down, as runc does: nothing works
    otherwise.  On a hybrid host (own_only) the cgroup2 mount is the host's business:
    controllers are enabled only in cgroups this create made, and one that an existing
    ancestor does not pass down is an error."""
    rel = leaf[len(h.mountpoint):].strip("/")
    parts = rel.split("/") if rel else []
    d = h.mountpoint
    for part in parts:
        if own_only and d not in created:
            on = set((read_text(os.path.join(d, "cgroup.subtree_control")) or "").split())
            missing = sorted(set(wanted) - on)
            if missing:
                raise CgroupError(
                    f"cgroup: controller {', '.join(missing)} is not enabled in {d}/cgroup.subtree_control; "
                    "on a hybrid host pyrunc enables controllers of the cgroup2 mount only in cgroups it creates")
        else:
            _enable_in(d, wanted)
        d = os.path.join(d, part)


class FsManager:
    kind = "fs"

    def __init__(self, paths, created=None, hs=None):
        self.paths = dict(paths or {})   # hierarchy key -> the container's directory
        self.created = list(created or ())
        self._hs = hs
        self._lock = None
        self._pids_later = None
        self.rootless = False  # create only: what a user without privileges may do

    # ---- making one ----
    @classmethod
    def for_spec(cls, spec, cid, host, rootless=False):
        paths = paths_for(spec.cgroups_path, cid, host.cgroup_hierarchies)
        if rootless:
            from ..rootless import usable_cgroups
            paths = usable_cgroups(paths, spec.resources)
        m = cls(paths, hs=host.cgroup_hierarchies)
        m.rootless = rootless
        return m

    @classmethod
    def from_record(cls, rec):
        return cls(rec.get("paths"), rec.get("created"))

    def planned(self):
        """The directories create() will make (those missing now), recorded before it makes
        them: a create killed half way leaves no cgroup that delete --force cannot find."""
        missing = []
        for path in self.paths.values():
            d = path
            while d not in missing and not os.path.isdir(d) and d != "/":
                missing.append(d)
                d = os.path.dirname(d)
        return sorted(missing, key=len)

    def record(self):
        """The state's record: the paths and what create made, and what the calls that only
        read the container need without loading a manager (state.Container): the freezer
        file and its values, the plan's join list for exec."""
        kind, d = self._freezer()
        freezer = None
        if kind == "v1":
            freezer = {"file": d + "/freezer.state", "frozen": ["FROZEN", "FREEZING"], "thaw": "THAWED"}
        elif kind == "v2":
            freezer = {"file": d + "/cgroup.freeze", "frozen": ["1"], "thaw": "0"}
        return {"manager": self.kind, "paths": self.paths, "created": self.created,
                "join": self.join_args(), "freezer": freezer}

    @property
    def hs(self):
        if self._hs is None:
            from ..host import host
            self._hs = host().cgroup_hierarchies
        return self._hs

    def has_cgroup(self):
        return bool(self.paths)

    def require(self, what, cid):
        """A rootless container that could not have a cgroup gets a clear error instead of
        an empty answer."""
        if not self.paths:
            raise CgroupError(f"{what}: container {cid} has no cgroup (it was created rootless "
                              "without a cgroup this user can write)")

    def dirs(self, existing=False):
        from .resources import Dirs
        paths = {k: v for k, v in self.paths.items() if os.path.isdir(v)} if existing else self.paths
        return Dirs(paths, self.hs)

    attach_pid = False  # systemd's: create() is finished by attach(pid) (cgroups/systemd.py)

    def create(self, resources, devices=(), inside=()):
        """Make the container's cgroups, apply its resources and device rules.  The executor
        places the init itself (join_args); placed() then releases the device lock.  inside:
        pids of ours already in the cgroups (the systemd driver's executor), not counted as
        processes sharing them.

        Device rules are rewritten from "deny all": a process already in the cgroup would see
        every device denied for a moment.  So they are written under an flock of the devices
        cgroup (v1) or of the cgroup (v2), held until the init is placed, and only while no
        process is in it; a cgroup shared with running processes keeps its rules (a warning
        is logged)."""
        import fcntl

        from ..host import layout
        from ..log import log
        from . import devices as dev_rules
        from . import resources as res_mod
        hs = self.hs
        res = resources or {}
        if not self.paths:  # rootless, no cgroup writable: nothing to make or restrict
            return
        self.created = []
        try:
            for key, path in self.paths.items():
                new = []
                _mkdirs(path, new)
                self.created += new
                if key == "cpuset":
                    # every cgroup on the way, new or not (as runc): an empty cpus or mems
                    # admits no process
                    h = next((h for h in hs if h.key == key), None)
                    if h is not None and h.version == 1:
                        for d in _ancestors(h.mountpoint, path):
                            _copy_if_empty(d, "cpuset.cpus")
                            _copy_if_empty(d, "cpuset.mems")
                if key in ("freezer", "unified"):
                    _refuse_frozen(key, path)  # (a new one under a frozen parent is frozen too)
            pure = layout(hs) == "v2"
            for h in hs:
                if h.version == 2 and h.key in self.paths:
                    wanted = set(h.controllers) if pure else res_mod.v2_controllers(res) & set(h.controllers)
                    if wanted:
                        _enable_v2(h, self.paths[h.key], wanted, self.created, own_only=not pure)
            dirs = res_mod.Dirs(self.paths, hs)
            dev = dirs.get("devices")
            target = dev[0] if dev else (dirs.unified if pure else None)
            if target and self.rootless:
                # as runc: a user without privileges cannot restrict devices (no eBPF program,
                # no devices.deny); its user namespace keeps the container from device nodes
                log.debug("rootless: device rules are not applied by a cgroup")
            elif target:
                self._lock = os.open(target, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
                fcntl.flock(self._lock, fcntl.LOCK_EX)
                rules = dev_rules.rules(res.get("devices"), devices)
                if _populated(target, inside):
                    if res.get("devices"):
                        log.warning(f"cgroup {target} is shared with running processes: "
                                    "its device rules are left as they are")
                elif dev:
                    for fname, line in dev_rules.v1_lines(rules):
                        _write(os.path.join(target, fname), line)
                else:
                    dev_rules.attach_v2(target, rules)
            elif res.get("devices"):
                raise CgroupError("linux.resources.devices: this host has no devices controller "
                                  "and no cgroup v2 hierarchy to attach device rules to")
            else:
                log.warning("this host has no devices controller: the container's device access "
                            "is not restricted by a cgroup")
            res_mod.apply(res, dirs, warn=log.warning)
            pids = dirs.get("pids")
            if (res.get("pids") or {}).get("limit") == 1 and pids and (pids[1] == 1 or inside):
                # the executor's first stage joins a v1 cgroup itself (or systemd put it in
                # the unit) and clones the init from there: two tasks for a moment.  The
                # limit of 1 is set once it is gone.
                _write(os.path.join(pids[0], "pids.max"), "2")
                self._pids_later = pids[0]
        except OSError as e:
            self.undo()
            raise CgroupError(f"cgroup: {e.filename}: {e.strerror}")
        except BaseException:
            self.undo()
            raise

    def join_args(self):
        """[(version, directory)] for CGROUP_JOIN: v1 hierarchies are joined by the executor
        itself (a process moving itself avoids an RCU grace period, docs/performance.md); the
        v2 directory at the CLONE (CLONE_INTO_CGROUP)."""
        return [(2 if key == "unified" else 1, path) for key, path in self.paths.items()]

    def create_join_args(self):
        """The join list of create's executor (exec joins join_args())."""
        return self.join_args()

    def mount_sources(self):
        return dict(self.paths)

    def enter(self, pid):
        """Put a process of pyrunc's (restore: criu, whose restored tree then starts in
        the container's cgroups) into every directory of the container."""
        for path in self.paths.values():
            _write(os.path.join(path, "cgroup.procs"), str(pid))

    def placed(self):
        """The init is in its cgroups and the executor's first stage has exited."""
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None
        if self._pids_later:
            _write(os.path.join(self._pids_later, "pids.max"), "1")
            self._pids_later = None

    def undo(self):
        """After a failed create: remove what this create made, kill nothing (a cgroup
        shared with other containers keeps them)."""
        self.placed()
        self._remove(self.created, leaves=())

    # ---- the freezer ----
    def _freezer(self):
        """("v1", freezer dir) or ("v2", cgroup dir) or (None, None)."""
        if self.paths.get("freezer"):
            return "v1", self.paths["freezer"]
        if self.paths.get("unified") and os.path.exists(os.path.join(self.paths["unified"], "cgroup.freeze")):
            return "v2", self.paths["unified"]
        return None, None

    def frozen(self):
        """Is the container frozen (or freezing)?  On the hot path of `state`: reads one file."""
        if self.paths.get("freezer"):
            return read_text(os.path.join(self.paths["freezer"], "freezer.state")) in ("FROZEN", "FREEZING")
        if self.paths.get("unified"):
            return read_text(os.path.join(self.paths["unified"], "cgroup.freeze")) == "1"
        return False

    def freeze(self, timeout=10.0):
        """Freeze every process of the container and wait until the kernel says frozen."""
        kind, d = self._freezer()
        if kind is None:
            raise CgroupError("cannot pause: this container has no freezer (freezer controller or "
                              "cgroup.freeze)")
        deadline = time.monotonic() + timeout
        while True:
            if kind == "v1":
                _write(os.path.join(d, "freezer.state"), "FROZEN")
                done = read_text(os.path.join(d, "freezer.state")) == "FROZEN"
            else:
                _write(os.path.join(d, "cgroup.freeze"), "1")
                done = "frozen 1" in (read_text(os.path.join(d, "cgroup.events")) or "").splitlines()
            if done:
                return
            if time.monotonic() > deadline:
                self.thaw()
                raise CgroupError("cannot pause: the container's processes did not freeze in time")
            time.sleep(0.001)

    def thaw(self):
        kind, d = self._freezer()
        if kind == "v1":
            _write(os.path.join(d, "freezer.state"), "THAWED")
        elif kind == "v2":
            _write(os.path.join(d, "cgroup.freeze"), "0")

    def thaw_quietly(self):
        """thaw, for cleanup paths: errors are ignored."""
        try:
            self.thaw()
        except CgroupError:
            pass

    # ---- processes ----
    def _pid_dir(self):
        for key in ("pids", "freezer", "memory", "unified"):
            if key in self.paths:
                return self.paths[key]
        return next(iter(self.paths.values()), None)

    def pids(self):
        """Every pid in the container's cgroup, its sub-cgroups included."""
        top = self._pid_dir()
        out = []
        if not top:
            return out
        for d, _, _ in os.walk(top):
            text = read_text(os.path.join(d, "cgroup.procs"))
            if text:
                out += [int(x) for x in text.split()]
        return out

    def kill_all(self, sig):
        _signal(self.pids(), sig)

    # ---- statistics, update ----
    def stats(self):
        from .stats import stats
        return stats(self.paths, self.hs)

    def oom_kills(self):
        from .stats import oom_kills
        return oom_kills(self.paths, self.hs)

    def update(self, old, new):
        """Write the merged resources `new`; if a write fails, write `old` back and raise: a
        request applies entirely or not at all, as far as the kernel lets a set of cgroup files
        be.  Device rules are not updated (as runc)."""
        from ..log import log
        from . import resources as res_mod
        dirs = self.dirs(existing=True)
        body = {k: v for k, v in new.items() if k != "devices"}
        writes = res_mod.writes(body, dirs, warn=log.warning, update=True)
        try:
            res_mod.write_all(writes, dirs)
        except CgroupError:
            try:
                res_mod.apply({k: v for k, v in old.items() if k != "devices"}, dirs)
            except CgroupError as e:
                log.warning(f"update failed and the previous resources could not be restored: {e}")
            raise

    # ---- the end ----
    def _remove(self, created, leaves, timeout=5.0):
        """Remove directories, deepest first; returns the leaves that could not be removed.

        The container's own directories (leaves) lose the sub-cgroups the container made
        inside them first and are retried while processes are leaving them, killing
        leftovers; a parent that is busy holds other cgroups and stays."""
        leaves = set(leaves)
        left = []
        deadline = time.monotonic() + timeout
        for d in sorted(set(created) | leaves, key=len, reverse=True):
            while True:
                if d in leaves:
                    _rmdir_below(d)
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if d in leaves and time.monotonic() < deadline:
                        # the container may have put processes in sub-cgroups of one
                        # hierarchy only: kill what is in this leaf's tree
                        _kill_tree(d, 9)
                        self.thaw_quietly()
                        time.sleep(0.01)
                        continue
                    if d in leaves:
                        left.append(d)
                    break
        return left

    def destroy(self):
        """Kill what is left in the cgroups and remove them; returns what stayed."""
        self.kill_all(9)
        self.thaw_quietly()
        return self._remove(self.created, self.paths.values())

    def front(self):
        """What pyrunc-front needs to delete this container without Python (the freezer is
        in the record)."""
        created = set(self.created)
        leaves = set(self.paths.values())
        return {"pid_dir": self._pid_dir(), "remove": sorted(created | leaves, key=len, reverse=True),
                "leaves": leaves}


def _signal(pids, sig):
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _kill_tree(top, sig):
    """Signal every process in the cgroup top and the cgroups below it."""
    for d, _, _ in os.walk(top):
        text = read_text(os.path.join(d, "cgroup.procs"))
        if text:
            _signal([int(x) for x in text.split()], sig)


def _rmdir_below(top):
    """Remove the cgroups below top, deepest first (what is busy stays)."""
    for d, subdirs, _ in os.walk(top, topdown=False):
        for sub in subdirs:
            try:
                os.rmdir(os.path.join(d, sub))
            except OSError:
                pass

"""checkpoint: a running container's processes saved into image files by CRIU, as runc does
it (libcontainer's Checkpoint): the same criu_opts, the same external mounts and namespaces,
descriptors.json for restore's inherited stdio; then, unless --leave-running or --pre-dump,
the container is deleted (CRIU has stopped its processes).  restore.py brings it back.
"""

import json
import os

from ..errors import PyruncError, StateError, UsageError

CLONE_NEWNET = 0x40000000
DESCRIPTORS = "descriptors.json"
# runc's configuration file for CRIU, and the annotation that names another (or none: "")
CONFIG_FILE = "/etc/criu/runc.conf"
CONFIG_ANNOTATION = "org.criu.config"


class Options:
    """The CRIU switches of checkpoint and restore (runc's flags)."""
    image_path = work_path = parent_path = page_server = manage_cgroups_mode = None
    lsm_profile = lsm_mount_context = criu = None
    leave_running = tcp_established = tcp_skip_in_flight = link_remap = ext_unix_sk = False
    shell_job = file_locks = pre_dump = auto_dedup = lazy_pages = False
    empty_ns = ()
    status_fd = -1

    def __init__(self, **kw):
        for k, v in kw.items():
            if not hasattr(self, k):
                raise TypeError(f"no CRIU option {k!r}")
            setattr(self, k, v)


def image_paths(o):
    """(image directory, parent path) as runc checks them: the image directory is made; the
    parent path must be relative and name a directory under it."""
    image = os.path.abspath(o.image_path or "checkpoint")
    try:
        os.makedirs(image, 0o700, exist_ok=True)
    except OSError as e:
        raise PyruncError(f"cannot make the image directory {image}: {e.strerror}")
    parent = o.parent_path or ""
    if parent:
        if parent.startswith("/"):
            raise UsageError("--parent-path must be relative")
        real = os.path.join(image, parent)
        if not os.path.isdir(real):
            why = "not a directory" if os.path.exists(real) else "no such file or directory"
            raise UsageError(f"invalid --parent-path: {real}: {why}")
    return image, parent


def empty_ns_mask(names):
    """runc's --empty-ns: the network namespace always (runc does not manage network
    devices); "network" is the only name it takes."""
    mask = CLONE_NEWNET
    for n in names or ():
        if n != "network":
            raise UsageError(f'namespace "{n}" is not supported')
    return mask


def cg_mode(mode):
    from ..criu import CG_MODES
    if (mode or "") not in CG_MODES or mode in ("none", "props"):
        raise UsageError("invalid manage-cgroups-mode value")
    return CG_MODES[mode or ""]


def common_opts(o, annotations):
    """criu_opts that checkpoint and restore set alike."""
    opts = {"log_level": 4, "manage_cgroups": True, "manage_cgroups_mode": cg_mode(o.manage_cgroups_mode),
            "notify_scripts": True, "shell_job": bool(o.shell_job), "tcp_established": bool(o.tcp_established),
            "ext_unix_sk": bool(o.ext_unix_sk), "file_locks": bool(o.file_locks),
            "empty_ns": empty_ns_mask(o.empty_ns), "orphan_pts_master": True, "auto_dedup": bool(o.auto_dedup),
            "lazy_pages": bool(o.lazy_pages)}
    conf = (annotations or {}).get(CONFIG_ANNOTATION)
    if conf is None:
        opts["config_file"] = CONFIG_FILE
    elif conf:
        opts["config_file"] = conf
    return opts


def open_dir(path):
    try:
        os.makedirs(path, 0o700, exist_ok=True)
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as e:
        raise PyruncError(f"{path}: {e.strerror}")


def ns_key(t):
    """CRIU's key for an external namespace of type t (runc's extRoot<Type>NS)."""
    return "extRoot" + {"network": "Net", "pid": "Pid"}[t] + "NS"


def device_paths(devices):
    """The container's device nodes (the default ones and linux.devices), external to CRIU
    as runc marks them: a process's stdio may be the host's /dev/null."""
    from ..compiler import DEFAULT_DEVICES
    return [d[0] for d in DEFAULT_DEVICES] + [d["path"] for d in devices or ()]


def _cgroup_binds(pid):
    """Mount points in the container of cgroup filesystems bound from the host's (a root
    other than /): external to CRIU."""
    from ..mountinfo import entries
    return [mp for root, mp, fstype in entries(f"/proc/{pid}/mountinfo")
            if fstype in ("cgroup", "cgroup2") and root != "/"]


def _stdio_links(pid):
    out = []
    for fd in range(3):
        try:
            out.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            out.append("/dev/null")
    return out


def checkpoint(c, o):
    """Checkpoint container c (loaded, locked) with Options o."""
    from .. import criu
    status = c.status()
    if status in ("created", "stopped"):
        raise StateError(f"Container cannot be checkpointed in {status} state")
    pid = c.pid
    image, parent = image_paths(o)
    opts = common_opts(o, c.data.get("annotations"))
    w = criu.Criu(o.criu)  # one criu swrk: the version, the feature checks, then the dump
    fds = []
    try:
        version = w.check_version(30000)
        img_fd = open_dir(image)
        fds.append(img_fd)
        log_dir = image
        opts.update(images_dir_fd=img_fd, log_file="dump.log", root=c.data.get("rootfs") or "", pid=pid,
                    leave_running=bool(o.leave_running), tcp_skip_in_flight=bool(o.tcp_skip_in_flight),
                    link_remap=bool(o.link_remap))
        if o.work_path:
            work_fd = open_dir(o.work_path)
            fds.append(work_fd)
            opts["work_dir_fd"] = work_fd
            log_dir = o.work_path
        # namespaces the container joined by path: CRIU leaves them alone (restore gets them back)
        external = []
        for n in (c.data.get("config") or {}).get("namespaces") or ():
            if n.get("type") in ("network", "pid") and n.get("path"):
                need = 31100 if n["type"] == "network" else 31500
                if version < need:
                    raise PyruncError(f"criu lacks support for external {n['type']} namespace during "
                                      "checkpointing process (old criu version?)")
                ino = os.stat(n["path"]).st_ino
                external.append(f"{'net' if n['type'] == 'network' else 'pid'}[{ino}]:{ns_key(n['type'])}")
        if external:
            opts["external"] = external
        fz = (c.data.get("cgroup") or {}).get("freezer")
        if fz and (fz["file"].endswith("freezer.state") or version >= 31400):
            opts["freeze_cgroup"] = os.path.dirname(fz["file"])
        if o.page_server:
            addr, _, port = o.page_server.rpartition(":")
            if not addr or not port:
                raise UsageError("Use --page-server ADDRESS:PORT to specify page server")
            try:
                opts["ps"] = {"address": addr.strip("[]"), "port": int(port)}
            except ValueError:
                raise UsageError("Invalid port number")
        if parent:
            opts.update(parent_img=parent, track_mem=True)
        kind = criu.DUMP
        if o.pre_dump:
            if not w.features({"mem_track": True})["mem_track"]:
                raise PyruncError("CRIU feature check failed: criu is missing features: [MemTrack]")
            kind = criu.PRE_DUMP
        if o.lazy_pages:
            if not w.features({"lazy_pages": True})["lazy_pages"]:
                raise PyruncError("CRIU feature check failed: criu is missing features: [LazyPages]")
            if o.status_fd is not None and o.status_fd >= 0:
                import fcntl
                try:
                    flags = fcntl.fcntl(o.status_fd, fcntl.F_GETFL)
                except OSError as e:
                    raise UsageError(f"invalid --status-fd argument {o.status_fd}: {e.strerror}")
                if flags & os.O_ACCMODE == os.O_RDONLY:
                    raise UsageError(f"invalid --status-fd argument {o.status_fd}: not writable")
        if not o.pre_dump:
            rec = c.data.get("criu") or {}
            ext = [(d, d) for d in rec.get("binds") or ()]
            ext += [(d, d) for d in _cgroup_binds(pid)]
            for p in rec.get("masked") or ():
                full = f"/proc/{pid}/root{p}"
                if os.path.exists(full) and not os.path.isdir(full):
                    ext.append((p, "/dev/null"))
            ext += [(d, d) for d in device_paths(c.data.get("devices"))]
            opts["ext_mnt"] = [{"key": k, "val": v} for k, v in dict(ext).items()]
            with open(os.path.join(image, DESCRIPTORS), "w") as f:
                json.dump(_stdio_links(pid), f)

        def on_notify(script, _pid, _fds):
            if script == "status-ready" and o.status_fd is not None and o.status_fd >= 0:
                try:
                    os.write(o.status_fd, b"\0")
                except OSError as e:  # (as runc: a warning, the dump goes on)
                    from ..log import log
                    log.warning(f"can't write \\0 to status fd: {e.strerror}")
                os.close(o.status_fd)
                o.status_fd = -1

        try:
            w.call({"type": kind, "opts": opts}, on_notify)
        except PyruncError as e:
            hint = criu.log_excerpt(os.path.join(log_dir, "dump.log"))
            raise PyruncError(f"{e}{': ' + hint if hint else ''} (log: {os.path.join(log_dir, 'dump.log')})")
        w.close(check=kind != criu.PRE_DUMP)
    finally:
        w.close(check=False)
        for fd in fds:
            os.close(fd)
    if not o.leave_running and not o.pre_dump:
        # (as runc: CRIU has ended the container's processes; what is left of it goes)
        from .delete import destroy
        try:
            destroy(c)
        except PyruncError as e:
            from ..log import log
            log.warning(str(e))

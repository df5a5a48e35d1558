"""restore: a container brought back from CRIU's images, as runc restores one: create's
steps (prepare, state directory, cgroups, save: ops/create.Creation) around a launch that
asks CRIU instead of pyrunc-init.

CRIU gets the bundle's rootfs as a mount point of its own (<state dir>/criu-root, a recursive
bind detached once CRIU is done), the container's external mounts with the host sources of
*this* bundle (so a restore may use another id, bundle, root or host), the namespaces the
config joins by path, the pipes of the checkpointed stdio (descriptors.json) mapped to
pyrunc's own stdio, and is itself put into the container's cgroups first (its restored tree
is born there; `cg_root` tells CRIU where that is).  The restored init is pyrunc's child
(rst_sibling).  CRIU's notifications run the prestart and createRuntime hooks
(setup-namespaces), record the new pid (post-restore) and pass a terminal's pty master on
(orphan-pts-master: to --console-socket, or to the relay of a restore that stays).
"""

import json
import os

from ..errors import PyruncError, UsageError

# the runtime-spec's namespace types, by CRIU's names (join_ns)
CRIU_NS = {"ipc": "ipc", "uts": "uts", "mount": "mnt", "user": "user", "time": "time"}


class Pty:
    """The pty master CRIU hands over, for a restore that relays the terminal itself."""

    def __init__(self):
        self.master = -1


def _cgroup_binds(spec, host, cg_mounts):
    """(destination, host source) of the cgroup filesystems the compiler binds from the host
    (compiler._cgroup_mount), for this container's cgroups."""
    out = []
    fresh = spec.new_ns("cgroup") and spec.namespaces.get("user") != ""
    if fresh:
        return out
    for m in spec.mounts:
        if m.type != "cgroup":
            continue
        hs = host.cgroup_hierarchies
        if host.cgroup_layout == "v2":
            out.append((m.destination, cg_mounts.get(hs[0].key, hs[0].mountpoint)))
            continue
        for h in hs:
            if cg_mounts.get(h.key):
                out.append((m.destination + "/" + os.path.basename(h.mountpoint), cg_mounts[h.key]))
    return out


def make_in_root(root_fd, path, file=False):
    """Make the mount point `path` (a file with file=True) inside the directory root_fd,
    resolving each component there: a symlink is followed inside the root (an absolute one
    from the root), never out of it.  What exists is left as it is."""
    import errno
    import stat
    parts = [p for p in path.split("/") if p and p != "."]
    stack = [root_fd]
    hops = 0
    try:
        while parts:
            comp = parts.pop(0)
            cur = stack[-1]
            if comp == "..":
                if len(stack) > 1:
                    os.close(stack.pop())
                continue
            last = not parts
            try:
                st = os.stat(comp, dir_fd=cur, follow_symlinks=False)
            except FileNotFoundError:
                if last and file:
                    os.close(os.open(comp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC,
                                     0o644, dir_fd=cur))
                    return
                os.mkdir(comp, 0o755, dir_fd=cur)
                st = os.stat(comp, dir_fd=cur, follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                hops += 1
                if hops > 40:
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
                target = os.readlink(comp, dir_fd=cur)
                if target.startswith("/"):
                    while len(stack) > 1:
                        os.close(stack.pop())
                parts = [p for p in target.split("/") if p and p != "."] + parts
                continue
            if last:
                return
            if not stat.S_ISDIR(st.st_mode):
                raise OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), path)
            stack.append(os.open(comp, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=cur))
    finally:
        for fd in stack[1:]:
            os.close(fd)


def _mount_points(spec):
    """The mount points of the config's mounts in the rootfs, as runc makes them before a
    restore (CRIU mounts onto them; an image's rootfs may lack them, e.g. podman's
    /etc/resolv.conf): files for bind mounts of files, directories else; none under a tmpfs
    mount (CRIU restores its content) nor for cgroup mounts."""
    tmpfs = [m.destination for m in spec.mounts if m.type == "tmpfs"]
    root_fd = os.open(spec.root_path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for m in spec.mounts:
            if m.type == "cgroup" or any(m.destination.startswith(t + "/") for t in tmpfs):
                continue
            file = False
            if m.is_bind():
                src = m.source if m.source.startswith("/") else os.path.join(spec.bundle, m.source)
                file = os.path.exists(src) and not os.path.isdir(src)
            try:
                make_in_root(root_fd, m.destination, file)
            except OSError as e:
                raise PyruncError(f"restore: cannot make the mount point {m.destination}: {e.strerror}")
    finally:
        os.close(root_fd)


def _reap():
    """Children CRIU restored and then killed (a failed restore): reaped, so that their
    cgroups are empty for undo to remove."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if not pid:
            return


def _proc_cgroups(pid):
    """[{ctrl, path}] of a process, one per controller (v2: ctrl ""), named as CRIU names
    them ("name=systemd": host.own_cgroups drops the "name=")."""
    out = []
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            for ctrl in ctrls.split(",") if ctrls else [""]:
                out.append({"ctrl": ctrl, "path": path})
    return out


def restore(req, o, detach=False, keep=False):
    """Restore container req.id (an ops.create.Request) from the images of Options o; returns
    the exit code of the restored process, or 0 when detached."""
    from .. import config, criu
    from .checkpoint import DESCRIPTORS, common_opts, ns_key
    bundle = os.path.abspath(req.bundle or ".")
    spec = config.load(bundle)
    image = os.path.abspath(o.image_path or "checkpoint")
    try:
        with open(os.path.join(image, DESCRIPTORS)) as f:
            descriptors = json.load(f)
    except OSError as e:
        raise PyruncError(f"{os.path.join(image, DESCRIPTORS)}: {e.strerror} (not a checkpoint's image directory?)")
    except ValueError:
        raise PyruncError(f"{os.path.join(image, DESCRIPTORS)}: not JSON")
    opts = common_opts(o, spec.annotations)
    pty = None
    if spec.process.terminal and not req.console_socket:
        if detach:
            raise UsageError("cannot allocate a tty when pyrunc detaches without --console-socket")
        pty = Pty()
    fds = []
    try:
        inherit, join = _namespaces(spec, descriptors, fds, ns_key)
        # one criu swrk: its version first (nothing is made before), then the restore; it
        # inherits pyrunc's stdio and the namespaces' descriptors
        w = criu.Criu(o.criu, stdio=(None, None, None), pass_fds=[i["fd"] for i in inherit if i["fd"] > 2])
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    try:
        version = w.check_version(30000)
        if (o.lsm_profile or o.lsm_mount_context) and version < 31600:
            raise PyruncError("--lsm-profile and --lsm-mount-context require at least CRIU 3.16")
        if inherit:
            opts["inherit_fd"] = inherit
        if join:
            opts["join_ns"] = join
        pid, c, fwd = _restore(req, o, opts, image, spec, pty, fds, w, detach)
    finally:
        w.close(check=False)
        for fd in fds:
            os.close(fd)
    if detach:
        return 0
    from .run import wait_and_delete
    return wait_and_delete(fwd, req, pid, pty if pty and pty.master >= 0 else None, keep)


def _namespaces(spec, descriptors, fds, ns_key):
    """(inherit_fd, join_ns) of the restore: a network or pid namespace the config joins by
    path is handed to CRIU as the external one of the checkpoint (its descriptor inherited);
    the others are joined by CRIU; stdio that was a pipe at the checkpoint is pyrunc's own."""
    inherit, join = [], []
    for t, path in spec.namespaces.items():
        if not path:
            continue
        if t in ("network", "pid"):
            try:
                fd = os.open(path, os.O_RDONLY)  # (inherited by criu: no O_CLOEXEC)
            except OSError as e:
                raise PyruncError(f"Requested {t} namespace {path} does not exist: {e.strerror}")
            fds.append(fd)
            inherit.append({"key": ns_key(t), "fd": fd})
        elif t == "cgroup":
            raise PyruncError("restore: a cgroup namespace joined by path cannot be restored by CRIU")
        else:
            join.append({"ns": CRIU_NS[t], "ns_file": path})
    for i, link in enumerate(descriptors[:3]):
        if isinstance(link, str) and "pipe:" in link:
            inherit.append({"key": link, "fd": i})
    return inherit, join


def _restore(req, o, opts, image, spec, pty, fds, w, detach):
    """create's steps around CRIU's restore; (the restored init's pid, the container, the
    signal forwarder of a restore that stays)."""
    from ..host import host as get_host
    from ..supervise import Forwarder
    from .create import Creation, Undo
    fwd = Forwarder(not detach)
    cr = Creation(req, spec, pty)
    cr.prepare()
    host = get_host()
    with Undo() as undo:
        cr.state_dir(undo, host)
        cr.cgroups(undo)
        c = cr.c
        _mount_points(spec)
        root = os.path.join(c.dir, "criu-root")
        os.mkdir(root, 0o755)
        try:
            from .._native import lib
            rc = lib.pyrunc_rbind(spec.root_path.encode(), root.encode())
            if rc < 0:
                raise PyruncError(f"restore: cannot bind the rootfs {spec.root_path}: {os.strerror(-rc)}")
            try:
                pid = _run_criu(cr, o, opts, image, root, spec, host, pty, fds, w)
            except BaseException:
                _reap()
                raise
            finally:
                lib.pyrunc_detach_mount(root.encode())
        finally:
            os.rmdir(root)
        cr.pid = pid
        cr.cg.placed()
        _note_time_ns(spec, pid)
        cr.save()
        undo.keep()
    c.unlock()
    return pid, c, fwd


def _note_time_ns(spec, pid):
    """CRIU gives the restored tree a time namespace of its own (its clocks go on from the
    checkpoint's): recorded, so that exec joins it (as runc adds it to its config)."""
    if "time" in spec.namespaces:
        return
    try:
        theirs, mine = os.stat(f"/proc/{pid}/ns/time"), os.stat("/proc/self/ns/time")
    except OSError:
        return
    if theirs.st_ino != mine.st_ino:
        linux = spec.doc.setdefault("linux", {})
        linux["namespaces"] = list(linux.get("namespaces") or ()) + [{"type": "time"}]


def _run_criu(cr, o, opts, image, root, spec, host, pty, fds, w):
    from .. import criu
    from .checkpoint import device_paths, open_dir
    img_fd = os.open(image, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    fds.append(img_fd)
    log_dir = image
    opts.update(images_dir_fd=img_fd, evasive_devices=True, log_file="restore.log", rst_sibling=True, root=root)
    if o.lsm_profile:
        opts["lsm_profile"] = o.lsm_profile
    if o.lsm_mount_context:
        opts["lsm_mount_context"] = o.lsm_mount_context
    if o.work_path:
        opts["work_dir_fd"] = open_dir(o.work_path)
        fds.append(opts["work_dir_fd"])
        log_dir = o.work_path
    ext = []
    for m in spec.mounts:
        if m.is_bind():
            src = m.source if m.source.startswith("/") else os.path.join(spec.bundle, m.source)
            ext.append((m.destination, src))
    ext += _cgroup_binds(spec, host, cr.cg.mount_sources())
    if spec.masked_paths:
        ext.append(("/dev/null", "/dev/null"))
    ext += [(d, d) for d in device_paths(spec.linux_doc().get("devices"))]
    opts["ext_mnt"] = [{"key": k, "val": v} for k, v in dict(ext).items()]

    hooks = spec.hooks
    result = {}

    def on_notify(script, pid, got):
        if script == "setup-namespaces" and (hooks["prestart"] or hooks["createRuntime"]):
            from .. import hooks as hk
            state = hk.state_json(cr.req.id, "creating", pid, spec.bundle, spec.annotations)
            hk.run("prestart", hooks["prestart"], state, spec.bundle)
            hk.run("createRuntime", hooks["createRuntime"], state, spec.bundle)
        elif script == "post-restore":
            result["pid"] = pid
            cr.pid = pid
            cr.record()  # the restored init may outlive this process from here on
        elif script == "orphan-pts-master" and got:
            if cr.req.console_socket:  # (the name create's executor sends with it)
                from ..fdutil import send_fd
                send_fd(os.path.abspath(cr.req.console_socket), got[0], b"/dev/ptmx",
                        "connect to the console socket")
            elif pty is not None:
                pty.master = os.dup(got[0])

    try:
        cr.cg.enter(w.pid)
        opts["cg_root"] = _proc_cgroups(w.pid)
        resp = w.call({"type": criu.RESTORE, "opts": opts}, on_notify)
    except BaseException as e:
        # criu is in the container's cgroups: gone before create's undo removes them
        w.close(check=False)
        if not isinstance(e, PyruncError):
            raise
        log = os.path.join(log_dir, "restore.log")
        hint = criu.log_excerpt(log)
        raise PyruncError(f"{e}{': ' + hint if hint else ''} (log: {log})")
    w.close()
    pid = (resp.get("restore") or {}).get("pid") or result.get("pid")
    if not pid:
        raise PyruncError("criu restored no process")
    return pid

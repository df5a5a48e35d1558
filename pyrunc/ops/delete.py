"""delete: kill what is left of a container and remove its cgroups and state."""

import os

from ..errors import CgroupError, NotFoundError, PyruncError, StateError


def destroy(c):
    """Kill what is left of the container and remove its cgroups and state (c locked)."""
    from ..fdutil import wait_gone
    from .start import kill_init
    mgr = c.cgroup
    if kill_init(c):
        mgr.thaw_quietly()
        wait_gone(c.pid)
    shared = c.data.get("shared_mounts")
    if shared:
        from ..hostmounts import detach_new
        mgr.kill_all(9)
        mgr.thaw_quietly()
        stuck = detach_new(shared["rootfs"], shared["before"])
        if stuck:
            c.unlock()
            raise PyruncError(f"cannot detach the mounts of {c.id}: {', '.join(stuck)}; "
                              "the state is kept, try delete again")
    left = mgr.destroy()
    if left:
        c.unlock()
        raise CgroupError(f"cannot remove the cgroups of {c.id}: {', '.join(left)} (still busy); "
                          "the state is kept, try delete again")
    if c.data.get("intel_rdt"):
        from ..intelrdt import destroy as destroy_rdt
        try:
            destroy_rdt(c.data["intel_rdt"])
        except OSError as e:
            c.unlock()
            raise PyruncError(f"cannot remove the Intel RDT group of {c.id}: {e.strerror}; "
                              "the state is kept, try delete again")
    c.remove_dir()
    hooks = (c.data.get("config") or {}).get("hooks") or {}
    if hooks.get("poststop"):
        # runtime-spec: poststop failures are logged, the deletion stands
        from .. import hooks as hk
        from ..config import hooks_of
        hk.run_all_logged("poststop", hooks_of(hooks)["poststop"],
                          hk.state_json(c.id, "stopped", 0, c.data.get("bundle", ""),
                                        c.data.get("annotations")))


def delete(root, cid, force=False):
    from ..state import Container
    try:
        c = Container.load(root, cid, lock=True)
    except NotFoundError:
        if not force:
            raise
        c = _half_made(root, cid)
        if c is None:
            return
    status = c.status()
    # A created container is deleted too, as runc and crun do (containerd's shim deletes a
    # created task that way); the runtime-spec says delete of a not stopped container is an
    # error: docs/support.md
    if status not in ("stopped", "created") and not force:
        c.unlock()
        raise StateError(f"cannot delete container {cid} that is not stopped: {status}")
    destroy(c)


YOUNG = 2.0  # seconds: a state directory this young without state.json may be a create's


def _half_made(root, cid):
    """delete --force of an id without state: wait for a create in progress (it holds the
    lock, and writes its first record right after taking it); if it made a container,
    return it; remove a directory a crash left behind.  A directory that has no record yet
    is a create's between its mkdir and its lock when it is young: never removed then."""
    import time

    from ..state import Container, check_id
    check_id(cid)
    c = Container(root, cid)
    while True:
        try:
            age = time.time() - os.stat(c.dir).st_mtime
        except FileNotFoundError:
            return None
        try:
            c.lock()
        except NotFoundError:
            return None  # removed meanwhile
        try:
            made = Container.load(root, cid)  # a create made it (or is still making it)
        except NotFoundError:
            pass
        else:
            made._lockfd, c._lockfd = c._lockfd, None  # the lock goes with it
            return made
        if age >= YOUNG:
            c.remove_dir()  # a create killed before its first record
            return None
        c.unlock()
        time.sleep(0.01)

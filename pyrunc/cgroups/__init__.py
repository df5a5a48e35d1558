"""Cgroup managers: what a container's cgroups need, whoever keeps them.

A manager owns one container's cgroups from `create` to `delete`.  Its interface:

    create(resources, devices)   make the cgroups, restrict devices, apply the resources
    join_args()                  [(hierarchy version, directory)] for the plan's CGROUP_JOIN
    placed() / undo()            after the executor joined them / after a failed create
    enter(pid)                   put a process of pyrunc's in them (restore: criu)
    mount_sources(host)          {hierarchy key: directory} for /sys/fs/cgroup in the container
    freeze() thaw() frozen()     pause and resume (thaw_quietly for cleanup paths)
    pids() kill_all(sig)         every process in the cgroup and below it
    stats() oom_kills()          events --stats, the OOM counter
    update(old, new)             update's resources, all or nothing
    destroy()                    kill what is left, remove the cgroups (returns what stayed)
    record()                     what the state keeps, so that every later call rebuilds it
    front()                      what pyrunc-front needs to act without Python (state.py)

`fs.FsManager` is the cgroupfs driver: it writes the cgroup filesystem itself, on v1, hybrid
and pure v2 hosts alike (one code path; each controller in its own hierarchy's format).
`systemd.SystemdManager` (`--systemd-cgroup`) has systemd make a transient unit over D-Bus
and is the cgroupfs driver on the unit's directories for everything else; its create is
finished by attach(pid) once the executor's first stage exists (attach_pid).  The
manager kind is recorded in the state, so a command on an existing container uses the
manager that created it, whatever flags it is given.
"""

from ..errors import CgroupError


def new(kind, spec, cid, host, rootless=False):
    """The manager of a container being created."""
    if kind == "fs":
        from .fs import FsManager
        return FsManager.for_spec(spec, cid, host, rootless)
    if kind == "systemd":
        from .systemd import SystemdManager
        return SystemdManager.for_spec(spec, cid, host, rootless)
    raise CgroupError(f"unknown cgroup manager {kind!r}")


def from_record(rec):
    """The manager of an existing container, from its state's record."""
    kind = (rec or {}).get("manager", "fs")
    if kind == "fs":
        from .fs import FsManager
        return FsManager.from_record(rec or {})
    if kind == "systemd":
        from .systemd import SystemdManager
        return SystemdManager.from_record(rec)
    raise CgroupError(f"unknown cgroup manager {kind!r} in the container's state")

"""pause and resume: the container's processes frozen and thawed by its cgroup manager."""

from ..errors import StateError


def pause(c):
    status = c.status()
    if status not in ("running", "created"):  # as runc: a paused one is "not running"
        raise StateError(f"container not running: {c.id} is {status}")
    c.cgroup.require("pause", c.id)
    c.cgroup.freeze()


def resume(c):
    status = c.status()
    if status != "paused":
        raise StateError(f"container not paused: {c.id} is {status}")
    c.cgroup.require("resume", c.id)
    c.cgroup.thaw()

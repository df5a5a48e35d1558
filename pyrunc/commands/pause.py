from .. import cgroups
from ..errors import PyruncError
from ..state import Container


def main(a):
    c = Container.load(a.root, a.id, lock=True)
    status = c.status()
    if status not in ("running", "created"):  # as runc: a paused one is "not running"
        raise PyruncError(f"container not running: {a.id} is {status}")
    cgroups.freeze(c.cgroup_paths("pause"))

from .. import cgroups
from ..errors import PyruncError
from ..state import Container


def main(a):
    c = Container.load(a.root, a.id, lock=True)
    status = c.status()
    if status != "paused":
        raise PyruncError(f"container not paused: {a.id} is {status}")
    cgroups.unfreeze(c.cgroup_paths("resume"))

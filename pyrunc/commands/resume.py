from ..ops.pause import resume
from ..state import Container


def main(a):
    c = Container.load(a.root, a.id, lock=True)
    with c.locked():
        resume(c)

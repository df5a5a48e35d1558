from ..ops.pause import pause
from ..state import Container


def main(a):
    c = Container.load(a.root, a.id, lock=True)
    with c.locked():
        pause(c)

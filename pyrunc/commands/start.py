from ..lifecycle import start
from ..state import Container


def main(a):
    c = Container.load(a.root, a.id, lock=True)
    start(c)

import sys

from ..state import Container


def main(a):
    sys.stdout.write(Container.load(a.root, a.id).render_state())

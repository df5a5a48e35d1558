from ..lifecycle import kill, parse_signal
from ..state import Container


def main(a):
    sig = parse_signal(a.signal)
    c = Container.load(a.root, a.id, lock=True)
    kill(c, sig, a.all)

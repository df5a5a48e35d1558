from ..ops.kill import kill, parse_signal
from ..state import Container


def main(a):
    sig = parse_signal(a.signal)
    c = Container.load(a.root, a.id, lock=True)
    with c.locked():
        kill(c, sig, a.all)

"""kill: the Python API's Container.kill (pyrunc/api.py); the signal checked first."""


def main(a):
    from ..api import Container
    from ..ops.kill import parse_signal
    Container(a.id, a.root).kill(parse_signal(a.signal), bool(a.all))

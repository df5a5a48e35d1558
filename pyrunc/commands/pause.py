"""pause: the Python API's Container.pause (pyrunc/api.py)."""


def main(a):
    from ..api import Container
    Container(a.id, a.root).pause()

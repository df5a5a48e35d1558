"""start: the Python API's Container.start (pyrunc/api.py)."""


def main(a):
    from ..api import Container
    Container(a.id, a.root).start()

"""delete: the Python API's Container.delete (pyrunc/api.py)."""


def main(a):
    from ..api import Container
    Container(a.id, a.root).delete(bool(a.force))

"""resume: the Python API's Container.resume (pyrunc/api.py)."""


def main(a):
    from ..api import Container
    Container(a.id, a.root).resume()

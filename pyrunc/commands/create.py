from ..create import create


def main(a):
    create(a).unlock()

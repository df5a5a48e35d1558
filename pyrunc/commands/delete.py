from ..lifecycle import delete


def main(a):
    delete(a.root, a.id, a.force)

from ..ops.delete import delete


def main(a):
    delete(a.root, a.id, a.force)

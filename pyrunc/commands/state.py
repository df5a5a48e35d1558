import sys

from ..fastjson import dumps
from ..state import Container


def main(a):
    c = Container.load(a.root, a.id)
    sys.stdout.write(dumps(c.oci_state(), indent=2) + "\n")

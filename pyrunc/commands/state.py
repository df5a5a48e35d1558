import json
import sys

from ..state import Container


def main(a):
    c = Container.load(a.root, a.id)
    sys.stdout.write(json.dumps(c.oci_state(), indent=2) + "\n")

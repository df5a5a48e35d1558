from ..cli import create_request
from ..ops.create import create


def main(a):
    create(create_request(a))

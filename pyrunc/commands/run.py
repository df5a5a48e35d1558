from ..cli import create_request
from ..ops.run import run


def main(a):
    return run(create_request(a), detach=a.detach, keep=a.keep)

from ..ops.run import run
from .create import request


def main(a):
    return run(request(a), detach=a.detach, keep=a.keep)

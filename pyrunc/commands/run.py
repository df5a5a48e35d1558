"""run: create + start + wait, relaying a terminal when the config asks for one.

Like runc, `run` makes itself a child subreaper so that the container's init (whose parent,
pyrunc-init's first stage, exits early) is re-parented to it: it can then wait for the
init's exit status, reap what the container leaves behind, and forward the signals it
receives to the init.  It exits with the init's status, or 128+N when a signal N killed it.
"""

import os

from ..create import create
from ..errors import PyruncError
from ..lifecycle import destroy, start
from ..state import Container
from ..supervise import Console, Forwarder, exit_code, terminal_size

def main(a):
    from .. import specconv
    bundle = os.path.abspath(a.bundle or ".")
    cfg = specconv.load(bundle)
    terminal = bool(cfg["process"].get("terminal"))
    fwd = Forwarder(not a.detach)
    console = None
    if terminal and not a.console_socket:
        if a.detach:
            raise PyruncError("cannot allocate a tty when pyrunc detaches without --console-socket")
        console = Console()
        size = terminal_size()
        if size and not cfg["process"].get("consoleSize"):
            cfg["process"]["consoleSize"] = size  # the relayed terminal's, from the start
    try:
        c = create(a, console_socket=console.path if console else None, cfg=cfg)
        try:
            if console:
                console.receive()
            start(c)
        except BaseException:
            destroy(c)
            raise
        c.unlock()
    finally:
        if console:
            console.close_socket()
    if a.detach:
        return 0
    status = fwd.supervise(c.pid, console)
    if not a.keep:
        try:
            c = Container.load(a.root, a.id, lock=True)
            destroy(c)
        except PyruncError:
            pass
    return exit_code(status)

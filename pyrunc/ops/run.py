"""run: create + start + wait, relaying a terminal when the config asks for one.

Like runc, `run` makes itself a child subreaper so that the container's init (whose parent,
pyrunc-init's first stage, exits early) is re-parented to it: it can then wait for the
init's exit status, reap what the container leaves behind, and forward the signals it
receives to the init.  It exits with the init's status, or 128+N when a signal N killed it.
"""

import os

from ..errors import PyruncError, UsageError


def run(req, detach=False, keep=False):
    """Run the container of req (a create.Request); returns its exit code (0 when detached)."""
    from .. import config
    from ..supervise import Console, Forwarder, terminal_size
    from .create import create
    from .delete import destroy
    from .start import start
    bundle = os.path.abspath(req.bundle or ".")
    spec = config.load(bundle)
    proc = spec.process
    fwd = Forwarder(not detach)
    console = None
    if proc.terminal and not req.console_socket:
        if detach:
            raise UsageError("cannot allocate a tty when pyrunc detaches without --console-socket")
        console = Console()
        size = terminal_size()
        if size and not proc.console_size:
            proc.console_size = (size["height"], size["width"])  # the relayed terminal's, from the start
    try:
        c = create(req, spec, console=console, keep_lock=True)
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
    if detach:
        return 0
    return wait_and_delete(fwd, req, c.pid, console, keep)


def wait_and_delete(fwd, req, pid, console, keep=False):
    """The end of a run (and of a restore that stays): supervise the init (fwd: a
    supervise.Forwarder), then delete the container unless keep; the exit code."""
    from ..state import Container
    from ..supervise import exit_code
    from .delete import destroy
    status = fwd.supervise(pid, console)
    if not keep:
        try:
            destroy(Container.load(req.root, req.id, lock=True))
        except PyruncError:
            pass
    return exit_code(status)

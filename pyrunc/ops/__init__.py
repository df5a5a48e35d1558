"""The operations on a container, one module each: create, start, kill, delete, exec, run,
pause (and resume), update.  The command line (pyrunc/commands) and the Python API call them;
each takes what it needs as arguments, holds the container's lock only for its own work, and
raises typed errors (pyrunc/errors.py).

ops/create.py's Undo is how a step registers the way to take back what it made: an
ExitStack without contextlib (whose import brings collections and functools, ~3 ms of every call,
docs/performance.md).  On an exception the callbacks run last first, each in turn even when
one fails, and the exception goes on; keep() drops them (success).

    with Undo() as undo:
        made = make()
        undo.callback(remove, made)
        ...
        undo.keep()
"""

"""The operations on a container, one module each: create, start, kill, delete, exec, run,
pause (and resume), update.  The command line (pyrunc/commands) and the Python API call them;
each takes what it needs as arguments, holds the container's lock only for its own work, and
raises typed errors (pyrunc/errors.py)."""

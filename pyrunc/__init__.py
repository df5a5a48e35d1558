"""pyrunc: an OCI runtime in Python with a small C executor (see docs/architecture.md)."""

__version__ = "0.1.0"
SPEC_VERSION = "1.3.0"


def __getattr__(name):
    """The Python API (pyrunc/api.py, docs/api.md), loaded on first use: the command line
    imports this package and must not pay for it."""
    if name in ("Container", "run", "spec"):
        from . import api
        return getattr(api, name)
    if name == "errors":
        from . import errors
        return errors
    raise AttributeError(f"module 'pyrunc' has no attribute {name!r}")

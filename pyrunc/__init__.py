"""pyrunc: an OCI runtime in Python with a small C executor (see docs/architecture.md)."""

__version__ = "0.1.0"
SPEC_VERSION = "1.3.0"

"""The plan: the ordered list of low-level operations that pyrunc-init executes.

The wire format (docs/plan.md): a 12-byte header (magic, version, body length, all u32
little endian), then records of u16 op, u16 argc and argc arguments, each a u32 length and
that many bytes ending in a NUL.  The operations, their numbers and arguments are defined
once, in pyrunc/planops.py, from which csrc/plan_ops.h is generated.

Each op may carry the config field it was compiled from (`field=`): when the executor
reports that op's failure, the error names the field (errors.ExecutorError.field).
"""

import struct

from .errors import ConfigError
from .planops import MAGIC, NUMBERS, OPS, VERSION, arity  # noqa: F401  (MAGIC, VERSION: the format)


def _arg(a):
    if isinstance(a, bool):
        a = int(a)
    if isinstance(a, int):
        a = str(a)
    if isinstance(a, str):
        try:
            a = a.encode()
        except UnicodeEncodeError:
            raise ConfigError("not valid text (a lone surrogate, or a character that is not UTF-8)")
    if b"\0" in a:
        raise ConfigError("contains a NUL byte")
    return a + b"\0"


class Op:
    __slots__ = ("name", "args", "field")

    def __init__(self, name, args, field):
        self.name, self.args, self.field = name, args, field

    def __iter__(self):  # (name, args), as the plan's ops were pairs
        return iter((self.name, self.args))

    def __getitem__(self, i):
        return (self.name, self.args)[i]

    def __eq__(self, other):
        return tuple(self) == tuple(other)

    def __repr__(self):
        return f"Op({self.name!r}, {self.args!r})"


class Plan:
    """A list of ops with an encoder; ops are appended in execution order."""

    def __init__(self):
        self.ops = []

    def add(self, op, *args, field=None):
        if op not in OPS:
            raise KeyError(op)
        lo, hi = arity(op)
        if len(args) < lo or (hi is not None and len(args) > hi):
            want = f"{lo}" if lo == hi else f"{lo} or more"
            raise TypeError(f"plan op {op} takes {want} arguments ({', '.join(OPS[op][1])}), got {len(args)}")
        self.ops.append(Op(op, args, field))

    def names(self):
        return [o.name for o in self.ops]

    def encode(self):
        parts = []
        pack = struct.pack
        for i, o in enumerate(self.ops):
            try:
                enc = [_arg(a) for a in o.args]
            except ConfigError as e:
                e.field = e.field or o.field
                e.msg = f"{e.msg}" if e.field else f"plan op {o.name}: {e.msg}"
                raise
            parts.append(pack("<HH", NUMBERS[o.name], len(enc)))
            for e in enc:
                parts.append(pack("<I", len(e)))
                parts.append(e)
        body = b"".join(parts)
        return pack("<III", MAGIC, VERSION, len(body)) + body

    def describe(self):
        """A readable listing of the plan (for --debug and docs)."""
        out = []
        for o in self.ops:
            shown = " ".join(repr(a) if isinstance(a, str) else str(a) for a in o.args)
            out.append(f"{o.name} {shown}".rstrip())
        return "\n".join(out)

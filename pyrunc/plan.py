"""The plan: the ordered list of low-level operations that pyrunc-init executes.

The wire format (docs/plan.md): a 12-byte header (magic, version, body length, all u32
little endian), then records of u16 op, u16 argc and argc arguments, each a u32 length and
that many bytes ending in a NUL.  The op numbers mirror csrc/plan_ops.h; a unit test checks
that the two tables agree.
"""

import struct

MAGIC = 0x31505250
VERSION = 1

OPS = {
    "SETNS": 1, "TIMENS": 2, "CLONE": 3, "WAIT_GO": 4, "SETSID": 5, "PROC_WRITE": 6,
    "PROPAGATION": 7, "ROOTFS": 8, "MKDIR": 9, "MOUNT": 10, "MKNOD": 11, "BINDDEV": 12,
    "SYMLINK": 13, "MASK": 14, "READONLY": 15, "CONSOLE": 16, "EXECFIFO": 17,
    "ROOT_READONLY": 18, "PIVOT": 19, "ROOT_PROPAGATION": 20, "HOSTNAME": 21,
    "DOMAINNAME": 22, "RLIMIT": 23, "USER": 24, "CAPS": 25, "UMASK": 26, "NNP": 27,
    "CWD": 28, "LOOKUP": 29, "READY": 30, "WAIT_START": 31, "SECCOMP": 32, "EXEC": 33,
    "KEYRING": 34, "SETNS_FD": 35, "ROOT_CURRENT": 36, "SYNC_HOOKS": 37, "HOOK": 38, "CGROUP_JOIN": 39,
}


def _arg(a):
    if isinstance(a, bool):
        a = int(a)
    if isinstance(a, int):
        a = str(a)
    if isinstance(a, str):
        a = a.encode()
    if b"\0" in a:
        raise ValueError("NUL byte in a plan argument")
    return a + b"\0"


class Plan:
    """A list of (op, args) with an encoder; ops are appended in execution order."""

    def __init__(self):
        self.ops = []

    def add(self, op, *args):
        if op not in OPS:
            raise KeyError(op)
        self.ops.append((op, args))

    def names(self):
        return [op for op, _ in self.ops]

    def encode(self):
        parts = []
        pack = struct.pack
        for op, args in self.ops:
            enc = [_arg(a) for a in args]
            parts.append(pack("<HH", OPS[op], len(enc)))
            for e in enc:
                parts.append(pack("<I", len(e)))
                parts.append(e)
        body = b"".join(parts)
        return pack("<III", MAGIC, VERSION, len(body)) + body

    def describe(self):
        """A readable listing of the plan (for --debug and docs)."""
        out = []
        for op, args in self.ops:
            shown = " ".join(repr(a) if isinstance(a, str) else str(a) for a in args)
            out.append(f"{op} {shown}".rstrip())
        return "\n".join(out)

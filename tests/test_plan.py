"""The plan format: Python's op table matches csrc/plan_ops.h, and encoding is exact."""

import os
import re
import struct

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from pyrunc import plan


def header_ops():
    text = open(os.path.join(REPO, "csrc", "plan_ops.h")).read()
    ops = {m.group(1): int(m.group(2)) for m in re.finditer(r"OP_([A-Z_]+)\s*=\s*(\d+)", text)}
    ops.pop("MAX")
    magic = int(re.search(r"PLAN_MAGIC (0x[0-9a-f]+)u", text).group(1), 16)
    version = int(re.search(r"PLAN_VERSION (\d+)", text).group(1))
    return ops, magic, version


def test_tables_agree():
    ops, magic, version = header_ops()
    assert ops == plan.OPS
    assert magic == plan.MAGIC and version == plan.VERSION


def test_encoding():
    p = plan.Plan()
    p.add("HOSTNAME", "box")
    p.add("RLIMIT", 7, 10, 20)
    p.add("NNP")
    data = p.encode()
    magic, version, length = struct.unpack_from("<III", data)
    assert (magic, version, length) == (plan.MAGIC, plan.VERSION, len(data) - 12)
    body = data[12:]
    op, argc = struct.unpack_from("<HH", body)
    assert (op, argc) == (plan.OPS["HOSTNAME"], 1)
    n, = struct.unpack_from("<I", body, 4)
    assert body[8:8 + n] == b"box\0"
    assert body.endswith(struct.pack("<HH", plan.OPS["NNP"], 0))


def test_nul_refused():
    import pytest
    p = plan.Plan()
    p.add("HOSTNAME", "a\0b")
    with pytest.raises(ValueError):
        p.encode()

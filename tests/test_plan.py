"""The plan format: csrc/plan_ops.h is what pyrunc/plan.py generates, ops are checked for
their arguments, encoding is exact, and the executor's failure frames are parsed whole."""

import os
import struct

import pytest

from pyrunc import plan
from pyrunc.errors import ConfigError, ExecutorError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_header_is_generated_from_the_table():
    with open(os.path.join(REPO, "csrc", "plan_ops.h")) as f:
        assert f.read() == plan.header(), \
            "csrc/plan_ops.h is stale: python -m pyrunc.plan > csrc/plan_ops.h"


def test_numbers_are_unique_and_dense():
    numbers = sorted(n for n, _, _ in plan.OPS.values())
    assert numbers == list(range(1, len(numbers) + 1))


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
    assert (op, argc) == (plan.NUMBERS["HOSTNAME"], 1)
    n, = struct.unpack_from("<I", body, 4)
    assert body[8:8 + n] == b"box\0"
    assert body.endswith(struct.pack("<HH", plan.NUMBERS["NNP"], 0))


def test_arity_is_checked():
    p = plan.Plan()
    with pytest.raises(TypeError, match="HOSTNAME takes 1 arguments"):
        p.add("HOSTNAME")
    with pytest.raises(TypeError, match="USER takes 4"):
        p.add("USER", 0, 0, "")
    p.add("EXEC", 0, 1, "true", "")  # the last argument repeats
    with pytest.raises(TypeError, match="2 or more"):
        p.add("EXEC", 0)
    with pytest.raises(KeyError):
        p.add("NOSUCH")


def test_nul_and_surrogates_refused_with_the_field():
    p = plan.Plan()
    p.add("HOSTNAME", "a\0b", field="hostname")
    with pytest.raises(ConfigError, match="hostname: contains a NUL byte"):
        p.encode()
    p = plan.Plan()
    p.add("EXEC", 0, 1, "x", "", "A=\ud800", field="process.env")
    with pytest.raises(ConfigError, match="process.env: not valid text"):
        p.encode()


def test_failure_frames():
    from pyrunc.executor import parse_failure
    p = plan.Plan()
    p.add("NNP")
    p.add("MOUNT", "proc", -1, "/proc", "proc", 0, "", "d", 0, 0, 0, 0, 0, 0, field="mounts[0]")
    msg = "mount proc (proc) on /proc: Operation not permitted\nsecond line é".encode()
    data = b"1 1 %d\n" % len(msg) + msg + b"READY\n"
    err, used = parse_failure(data, p)
    assert isinstance(err, ExecutorError)
    assert used == len(data) - len(b"READY\n")
    assert err.op == "MOUNT" and err.errno == 1 and err.config_field == "mounts[0]"
    assert str(err) == msg.decode()  # whole: both lines, no errno text added twice
    assert parse_failure(data[:-10], p) == (None, 0)  # not complete yet

"""linux.resources → cgroup writes, device rules and their eBPF program, update merging."""

import struct

import pytest

from pyrunc.cgroups import devices, resources
from pyrunc.commands.events import duration
from pyrunc.commands.update import ram_bytes
from pyrunc.config import Device
from pyrunc.errors import PyruncError
from pyrunc.host import Hierarchy
from pyrunc.ops.update import merge


def fake(tmp_path, version, files):
    d = tmp_path / "cg"
    d.mkdir()
    for f in files:
        (d / f).write_text("0\n")
    if version == 1:
        hs = [Hierarchy(c, f"/x/{c}", "/", 1, [c]) for c in
              ("memory", "cpu", "cpuacct", "cpuset", "pids", "blkio", "hugetlb", "devices")]
        paths = {h.key: str(d) for h in hs}
    else:
        hs = [Hierarchy("unified", "/x", "/", 2, ["cpuset", "cpu", "io", "memory", "hugetlb", "pids"])]
        paths = {"unified": str(d)}
    return resources.Dirs(paths, hs), d


def writes(res, dirs, update=False):
    warned = []
    out = [(w.file, w.value) for w in resources.writes(res, dirs, warned.append, update)]
    return out, warned


V1_FILES = ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "blkio.weight"]


def test_v1_memory_order_follows_the_current_limit(tmp_path):
    dirs, d = fake(tmp_path, 1, V1_FILES)
    (d / "memory.limit_in_bytes").write_text("1000\n")
    # raising above the current limit: memsw first (it must stay >= the limit)
    w, _ = writes({"memory": {"limit": 4000, "swap": 8000}}, dirs)
    assert w == [("memory.memsw.limit_in_bytes", "8000"), ("memory.limit_in_bytes", "4000")]
    (d / "memory.limit_in_bytes").write_text("100000\n")
    w, _ = writes({"memory": {"limit": 4000, "swap": 8000}}, dirs)
    assert w == [("memory.limit_in_bytes", "4000"), ("memory.memsw.limit_in_bytes", "8000")]
    w, _ = writes({"memory": {"limit": -1}}, dirs)  # unlimited memory: unlimited swap too
    assert w == [("memory.memsw.limit_in_bytes", "-1"), ("memory.limit_in_bytes", "-1")]


def test_v1_no_swap_accounting(tmp_path):
    dirs, d = fake(tmp_path, 1, ["memory.limit_in_bytes"])
    with pytest.raises(PyruncError, match="swap accounting"):
        writes({"memory": {"limit": 10, "swap": 20}}, dirs)


def test_v2_conversions(tmp_path):
    dirs, d = fake(tmp_path, 2, [])
    w, warned = writes({"memory": {"limit": 100, "swap": 300, "reservation": 50, "swappiness": 5},
                        "cpu": {"shares": 1024, "quota": 5000, "realtimeRuntime": 10},
                        "blockIO": {"weight": 500}, "pids": {"limit": 0}}, dirs)
    assert ("memory.swap.max", "200") in w and ("memory.max", "100") in w and ("memory.low", "50") in w
    assert ("cpu.weight", "100") in w and ("cpu.max", "5000 100000") in w
    assert ("io.weight", str(1 + 490 * 9999 // 990)) in w
    assert not any(f == "pids.max" for f, _ in w)  # as runc 1.1: 0 is unset (engines send it)
    assert any("swappiness" in m for m in warned) and any("realtime" in m for m in warned)


@pytest.mark.parametrize("shares,weight", [(2, 1), (1024, 100), (262144, 10000), (0, 0)])
def test_cpu_weight_curve(shares, weight):
    assert resources.cpu_weight(shares) == weight


@pytest.mark.parametrize("swap,limit,out", [(0, -1, -1), (-1, 100, -1), (300, 100, 200), (100, 100, 0)])
def test_swap_v2(swap, limit, out):
    assert resources.swap_v2(swap, limit) == out


def test_swap_v2_errors():
    with pytest.raises(PyruncError, match="needs a memory limit"):
        resources.swap_v2(100, 0)
    with pytest.raises(PyruncError, match="below"):
        resources.swap_v2(50, 100)


def test_missing_controller_is_an_error(tmp_path):
    dirs, d = fake(tmp_path, 2, [])
    with pytest.raises(PyruncError, match="network.classID.*net_cls"):
        writes({"network": {"classID": 5}}, dirs)
    with pytest.raises(PyruncError, match="CONTROLLER.PARAMETER"):
        writes({"unified": {"nodot": "1"}}, dirs)


def test_throttle_and_unified(tmp_path):
    dirs, d = fake(tmp_path, 2, [])
    dev = {"major": 8, "minor": 0, "rate": 10}
    w, _ = writes({"blockIO": {"throttleReadBpsDevice": [dev], "throttleWriteIOPSDevice": [dev]},
                   "unified": {"memory.high": "5"}}, dirs)
    assert w == [("io.max", "8:0 rbps=10"), ("io.max", "8:0 wiops=10"), ("memory.high", "5")]
    (tmp_path / "v1").mkdir()
    dirs, d = fake(tmp_path / "v1", 1, [])
    w, _ = writes({"blockIO": {"throttleReadBpsDevice": [dev]}}, dirs)
    assert w == [("blkio.throttle.read_bps_device", "8:0 10")]


# --- device rules and the eBPF program -------------------------------------------------

def run_bpf(code, dev_type, major, minor, access):
    """A small interpreter for the instructions devices.program() emits."""
    ctx = struct.pack("<III", (access << 16) | dev_type, major, minor)
    regs = [0] * 11
    pc = 0
    insns = [struct.unpack("<BBhi", code[i:i + 8]) for i in range(0, len(code), 8)]
    mask = (1 << 64) - 1
    while True:
        op, rr, off, imm = insns[pc]
        dst, src = rr & 0xf, rr >> 4
        pc += 1
        if op == 0x61:
            regs[dst] = struct.unpack_from("<I", ctx, off)[0]
        elif op == 0xbf:
            regs[dst] = regs[src]
        elif op == 0xb7:
            regs[dst] = imm & mask
        elif op == 0x57:
            regs[dst] &= imm & mask
        elif op == 0x77:
            regs[dst] >>= imm
        elif op == 0x55:
            if regs[dst] != imm & mask:
                pc += off
        elif op == 0x15:
            if regs[dst] == imm & mask:
                pc += off
        elif op == 0x95:
            return regs[0]
        else:
            raise AssertionError(f"unknown op {op:#x}")


def allowed(rule_list, t, major, minor, access):
    """Reference: v1 semantics for these lists (last matching rule wins, default deny)."""
    acc = devices._acc(access)
    verdict = False
    for allow, rt, rmaj, rmin, raccess in rule_list:
        ra = devices._acc(raccess)
        if rt != "a" and rt != t or rmaj >= 0 and rmaj != major or rmin >= 0 and rmin != minor:
            continue
        if allow and acc & ~ra == 0:
            verdict = True
        elif not allow and acc & ra:
            verdict = False
    return verdict


CASES = [
    [{"allow": False, "access": "rwm"}],
    [{"allow": False, "access": "rwm"}, {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rw"}],
    [{"allow": True}],
    [{"allow": True}, {"allow": False, "type": "b", "major": 8, "access": "w"}],
    [],
]


@pytest.mark.parametrize("cfg", CASES)
def test_bpf_program_matches_rules(cfg):
    rl = devices.rules(cfg)
    code = devices.program(rl)
    for t, bt in (("c", 2), ("b", 1)):
        for major, minor in ((1, 3), (5, 1), (10, 229), (8, 0), (136, 4), (254, 0)):
            for access in ("r", "w", "m", "rw", "rwm"):
                want = allowed(rl, t, major, minor, access)
                got = run_bpf(code, bt, major, minor, devices._acc(access))
                assert bool(got) == want, (cfg, t, major, minor, access)


def test_v1_lines_and_defaults():
    rl = devices.rules([{"allow": True, "type": "c", "major": 10, "minor": 229, "access": "wr"}],
                       [Device({"path": "/dev/null", "type": "c", "major": 1, "minor": 3})])
    lines = devices.v1_lines(rl)
    assert lines[0] == ("devices.deny", "a")
    assert lines[1] == ("devices.allow", "c 10:229 rw")
    assert ("devices.allow", "c 136:* rwm") in lines
    assert ("devices.allow", "c 1:3 rwm") not in lines  # redefined by linux.devices


# --- update ---------------------------------------------------------------------------

def test_merge():
    old = {"memory": {"limit": 10, "swap": 20}, "cpu": {"quota": 5, "period": 100},
           "blockIO": {"throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1}]},
           "devices": [{"allow": False}]}
    new = merge(old, {"memory": {"limit": 15}, "cpu": {"quota": 7},
                      "blockIO": {"throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 2},
                                                            {"major": 8, "minor": 16, "rate": 3}]},
                      "devices": [{"allow": True}]})
    assert new["memory"] == {"limit": 15, "swap": 20}
    assert new["cpu"] == {"quota": 7, "period": 100}
    assert [d["rate"] for d in new["blockIO"]["throttleReadBpsDevice"]] == [2, 3]
    assert new["devices"] == [{"allow": False}]
    assert old["memory"] == {"limit": 10, "swap": 20}


@pytest.mark.parametrize("text,value", [("1024", 1024), ("512m", 512 << 20), ("1g", 1 << 30),
                                        ("1.5GiB", 3 << 29), ("10KB", 10240), ("-1", -1)])
def test_ram_bytes(text, value):
    assert ram_bytes(text, "memory") == value


@pytest.mark.parametrize("text", ["lots", "1x", "", "-5"])
def test_ram_bytes_bad(text):
    with pytest.raises(PyruncError):
        ram_bytes(text, "memory")


@pytest.mark.parametrize("text,secs", [("5s", 5), ("250ms", 0.25), ("1m30s", 90), ("2h", 7200)])
def test_duration(text, secs):
    assert duration(text) == pytest.approx(secs)


@pytest.mark.parametrize("text", ["0", "5", "1d", "-1s", "s"])
def test_duration_bad(text):
    with pytest.raises(PyruncError):
        duration(text)


def test_kernel_memory(tmp_path):
    """kernelTCP goes to v1's kmem.tcp file (as crun; the kernel still enforces it); the
    kernel memory limit is only warned about (current kernels do not enforce it); v2 has
    neither."""
    dirs, d = fake(tmp_path, 1, V1_FILES + ["memory.kmem.tcp.limit_in_bytes"])
    w, warned = writes({"memory": {"kernel": 1 << 20, "kernelTCP": 2 << 20}}, dirs)
    assert w == [("memory.kmem.tcp.limit_in_bytes", str(2 << 20))]
    assert len(warned) == 1 and "memory.kernel is ignored" in warned[0]
    (d / "memory.kmem.tcp.limit_in_bytes").unlink()
    w, warned = writes({"memory": {"kernelTCP": 2 << 20}}, dirs)
    assert w == [] and "no memory.kmem.tcp.limit_in_bytes" in warned[0]
    tmp2 = tmp_path / "v2"
    tmp2.mkdir()
    dirs, d = fake(tmp2, 2, [])
    w, warned = writes({"memory": {"kernelTCP": 2 << 20}}, dirs)
    assert w == [] and "memory.kernelTCP has no cgroup v2 equivalent" in warned[0]

"""checkpoint and restore where CRIU can do everything: test_checkpoint.py in a VM (the pure
cgroup v2 one, ../shared/tools/v2vm, whose Debian 6.12 kernel Debian 12's own criu 3.17.1
supports), over a read-only view of this machine (the same checkout and .venv).

This host's kernel (6.18) lacks soft-dirty tracking, so --pre-dump cannot run here, and
refuses what criu reads of a TCP socket: both run in the VM, with pyrunc and with runc, on
cgroup v2.  The VM needs lo up and the guest kernel's sock_diag modules (CRIU dumps sockets
through them), linked from the kernel package v2vm unpacked.  PYRUNC_SKIP_V2VM=1 skips it
(for quick local runs only: CI runs it).
"""

import os
import subprocess

import pytest

from conftest import shared_tool

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
V2VM = os.environ.get("PYRUNC_V2VM") or shared_tool("v2vm/v2vm")
MODULES = "unix_diag inet_diag tcp_diag udp_diag netlink_diag af_packet_diag tun"


@pytest.mark.skipif(os.environ.get("PYRUNC_SKIP_V2VM") == "1", reason="PYRUNC_SKIP_V2VM=1")
def test_checkpoint_suite_in_a_vm(tmp_path):
    if not os.access(V2VM, os.X_OK):
        pytest.fail(f"{V2VM} not found: the checkpoint tests need it (scripts/test.sh sets it up)")
    if not os.access("/usr/sbin/criu", os.X_OK):
        pytest.fail("Debian's criu is not installed (scripts/setup.sh --engines)")
    import sys
    home = os.environ.get("V2VM_HOME") or os.path.expanduser("~/.cache/v2vm")
    pytest_bin = os.path.join(os.path.dirname(sys.executable), "pytest")  # not -m: no checkout on sys.path
    cmd = (f"cd {REPO} && ip link set lo up && K=$(uname -r) && mkdir -p /lib/modules && "
           f"ln -sfn {home}/kernel/lib/modules/$K /lib/modules/$K && for m in {MODULES}; do modprobe $m; done; "
           f"PYRUNC_CRIU=/usr/sbin/criu {pytest_bin} -p no:cacheprovider -q -rs integration/test_checkpoint.py "
           "> /out/log 2>&1; rc=$?; tail -5 /out/log; exit $rc")
    out = tmp_path / "out"
    out.mkdir()
    env = dict(os.environ, V2VM_MEM=os.environ.get("V2VM_MEM", "2G"))
    cp = subprocess.run([V2VM, "--out", str(out), "--", cmd], capture_output=True, text=True, timeout=1200, env=env)
    log = (out / "log").read_text(errors="replace") if (out / "log").exists() else ""
    assert cp.returncode == 0, f"checkpoint suite failed in a VM ({cp.returncode}):\n{log[-6000:]}\n{cp.stderr[-999:]}"
    last = log.strip().splitlines()[-1]
    # everything ran there: TCP and --pre-dump included
    assert " passed" in last and "skipped" not in last and "failed" not in last, log[-3000:]

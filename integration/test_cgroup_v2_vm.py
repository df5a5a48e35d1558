"""The cgroup suite on pure cgroup v2: boots a VM (../shared/tools/v2vm) with
cgroup_no_v1=all and runs test_resources.py and test_cgroup_v2.py inside it, over a
read-only view of this machine (the same checkout and .venv).

This host has hybrid cgroups, so this is the only place the v2 code paths run: a v2
regression fails this test.  PYRUNC_V2VM names the v2vm program if it is elsewhere;
PYRUNC_SKIP_V2VM=1 skips it (for quick local runs only: CI runs it).
"""

import os
import subprocess

import pytest

from conftest import shared_tool

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
V2VM = os.environ.get("PYRUNC_V2VM") or shared_tool("v2vm/v2vm")


@pytest.mark.skipif(os.path.exists("/sys/fs/cgroup/cgroup.controllers"), reason="already on cgroup v2")
@pytest.mark.skipif(os.environ.get("PYRUNC_SKIP_V2VM") == "1", reason="PYRUNC_SKIP_V2VM=1")
def test_cgroup_suite_on_pure_v2(tmp_path):
    if not os.access(V2VM, os.X_OK):
        pytest.fail(f"{V2VM} not found: the cgroup v2 tests need it (scripts/setup.sh sets it up)")
    import sys
    pytest_bin = os.path.join(os.path.dirname(sys.executable), "pytest")  # not -m: no checkout on sys.path
    cmd = (f"cd {REPO} && {pytest_bin} -p no:cacheprovider -q -rs -x "
           "integration/test_resources.py integration/test_cgroup_v2.py > /out/log 2>&1; "
           "rc=$?; tail -5 /out/log; exit $rc")
    out = tmp_path / "out"
    out.mkdir()
    env = dict(os.environ, V2VM_MEM=os.environ.get("V2VM_MEM", "2G"))
    cp = subprocess.run([V2VM, "--out", str(out), "--", cmd], capture_output=True, text=True,
                        timeout=1200, env=env)
    log = (out / "log").read_text() if (out / "log").exists() else ""
    assert cp.returncode == 0, f"v2 suite failed (exit {cp.returncode}):\n{log[-6000:]}\n{cp.stderr[-2000:]}"
    assert " passed" in log, log[-2000:]

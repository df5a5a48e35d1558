"""AppArmor for real: boots the VM of ../shared/tools/v2vm (a Debian kernel with AppArmor
enabled), mounts securityfs, loads integration/apparmor/pyrunc-test with apparmor_parser
(Debian package apparmor, installed by scripts/setup.sh) and runs test_apparmor.py there.
PYRUNC_SKIP_V2VM=1 skips it, as the cgroup v2 VM test."""

import os
import subprocess
import sys

import pytest
from test_cgroup_v2_vm import REPO, V2VM


@pytest.mark.skipif(os.environ.get("PYRUNC_SKIP_V2VM") == "1", reason="PYRUNC_SKIP_V2VM=1")
def test_apparmor_in_a_vm(tmp_path):
    if not os.access(V2VM, os.X_OK):
        pytest.fail(f"{V2VM} not found: the AppArmor tests need it (scripts/test.sh sets it up)")
    pytest_bin = os.path.join(os.path.dirname(sys.executable), "pytest")
    cmd = (f"cd {REPO} && mount -t securityfs securityfs /sys/kernel/security && "
           "apparmor_parser -r -K integration/apparmor/pyrunc-test && "
           f"{pytest_bin} -p no:cacheprovider -q -rs integration/test_apparmor.py > /out/log 2>&1; "
           "rc=$?; tail -5 /out/log; exit $rc")
    out = tmp_path / "out"
    out.mkdir()
    cp = subprocess.run([V2VM, "--out", str(out), "--", cmd], capture_output=True, text=True, timeout=900)
    log = (out / "log").read_text() if (out / "log").exists() else ""
    assert cp.returncode == 0, f"AppArmor suite failed (exit {cp.returncode}):\n{log[-6000:]}\n{cp.stderr[-2000:]}"
    assert "4 passed" in log, log[-2000:]

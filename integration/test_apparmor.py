"""process.apparmorProfile and exec --apparmor, applied for real: this host's kernel has
no AppArmor, so test_apparmor_vm.py boots a VM whose Debian kernel has it, loads the
profile integration/apparmor/pyrunc-test (everything allowed but writing under /tmp) and
runs this module there.  Elsewhere these tests skip; the refusal where AppArmor is absent
is tested in test_errors.py."""

import os

import pytest

from pyrunc import lsm


def _loaded():
    try:
        with open("/sys/kernel/security/apparmor/profiles") as f:
            return any(l.startswith("pyrunc-test ") for l in f)
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not (lsm.apparmor_enabled() and _loaded()),
                                reason="needs AppArmor with the pyrunc-test profile (test_apparmor_vm.py)")


def tmpfs_tmp(c):
    c["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["mode=1777"]})


def test_profile_confines_the_container(env):
    def patch(c):
        tmpfs_tmp(c)
        c["process"]["apparmorProfile"] = "pyrunc-test"
    r = env.sh("cat /proc/self/attr/current; echo; touch /tmp/x 2>&1 || echo denied; touch /etc/.x 2>&1; echo end",
               patch=patch)
    assert r.rc == 0, r
    assert r.out.startswith("pyrunc-test (enforce)") and "denied" in r.out, r


def test_without_profile_unconfined(env):
    r = env.sh("cat /proc/self/attr/current; echo; touch /tmp/x && echo wrote", patch=tmpfs_tmp)
    assert r.rc == 0 and r.out.startswith("unconfined") and "wrote" in r.out, r


def test_exec_apparmor_flag(env):
    b = env.bundle(["sleep", "1000"], patch=tmpfs_tmp)
    cid = env.new_id()
    assert env.pyrunc("run", "-d", "--bundle", b, cid).rc == 0
    r = env.pyrunc("exec", "--apparmor", "pyrunc-test", cid, "sh", "-c",
                   "cat /proc/self/attr/current; echo; touch /tmp/y || echo denied")
    assert r.rc == 0 and r.out.startswith("pyrunc-test (enforce)") and "denied" in r.out, r
    r = env.pyrunc("exec", cid, "cat", "/proc/self/attr/current")
    assert r.out.startswith("unconfined"), r


def test_unknown_profile_fails_create(env):
    """A profile the kernel does not know: the exec transition fails, create fails cleanly."""
    r = env.sh("true", patch=lambda c: c["process"].update(apparmorProfile="pyrunc-no-such-profile"))
    assert r.rc != 0 and "attr" in r.err and len(r.err.splitlines()) == 1, r
    assert os.path.exists("/sys/kernel/security/apparmor")

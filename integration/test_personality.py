"""linux.personality (runtime-spec 1.2; runc 1.2): the container's execution domain, for its
process and for what exec runs in it, as runc applies it.  Seen from inside: `uname -m`
under LINUX32 on x86_64 says i686.  runc 1.1.5 (installed here) predates the field."""

import os

import pytest

pytestmark = pytest.mark.skipif(os.uname().machine != "x86_64", reason="the 32-bit domain's name is x86's")


@pytest.mark.parametrize("domain,machine", [("LINUX32", "i686"), ("LINUX", "x86_64")])
def test_personality(env, domain, machine):
    r = env.run(["uname", "-m"], patch=lambda c: c["linux"].update(personality={"domain": domain}))
    assert r.rc == 0 and r.out == machine + "\n", r
    b = env.bundle(["sleep", "100"], patch=lambda c: c["linux"].update(personality={"domain": domain}))
    cid = env.new_id()
    assert env.pyrunc("run", "-d", "--bundle", b, cid).rc == 0
    r = env.pyrunc("exec", cid, "uname", "-m")
    assert r.rc == 0 and r.out == machine + "\n", r
    assert env.pyrunc("delete", "--force", cid).rc == 0

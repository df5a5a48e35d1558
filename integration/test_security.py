"""Attacks on the runtime (issue 4 collects them here): each test fails on an
implementation with the flaw."""

import pytest


@pytest.mark.parametrize("n", range(3, 12))
def test_cwd_proc_self_fd_cannot_reach_the_host(env, n):
    """CVE-2024-21626: process.cwd = /proc/self/fd/N naming a descriptor the runtime holds
    (the host's procfs, the exec fifo, the rootfs) must not become the container's cwd.
    pyrunc resolves cwd inside the root without magic links: create fails cleanly."""
    b = env.bundle(["sh", "-c", "pwd; ls -a ../../.."],
                   patch=lambda c: c["process"].update(cwd=f"/proc/self/fd/{n}"))
    r = env.run(bundle=b)
    assert r.rc != 0 and r.out == "", r
    assert len(r.err.splitlines()) == 1 and f"/proc/self/fd/{n}" in r.err, r

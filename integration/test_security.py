"""Attacks on the runtime (issue 4 collects them here): each test fails on an
implementation with the flaw."""

import os

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



def _all_caps():
    """Every capability this test process has in its bounding set (this host's root lacks
    CAP_SYS_RESOURCE there, and a container cannot get more than its runtime has)."""
    from pyrunc import caps
    with open("/proc/self/status") as f:
        bnd = int(next(l for l in f if l.startswith("CapBnd:")).split()[1], 16)
    return [n for i, n in enumerate(caps.NAMES) if bnd >> i & 1]


EVIL_ATTACKER = r"""
i=0
while [ $i -lt 2000 ] && [ ! -e /out/stop ]; do
  for d in /proc/[0-9]*; do
    c=$(tr '\0' ' ' < $d/cmdline 2>/dev/null)
    case "$c" in
      /proc/self/exe*)
        echo "seen ${d#/proc/} $c" >> /out/log
        (echo PWNED >> $d/exe) 2>>/out/log && echo "wrote append" >> /out/log
        (: > $d/exe) 2>>/out/log && echo "wrote truncate" >> /out/log
        # runc's exploit: hold the binary open, and write it once it no longer runs
        if (exec 7< $d/exe) 2>>/out/log; then exec 7< $d/exe; echo "held" >> /out/log; fi
        touch /out/done
        while [ -d $d ]; do sleep 0.05; done
        if [ -e /proc/self/fd/7 ]; then
          (echo PWNED >> /proc/self/fd/7) 2>>/out/log && echo "wrote held" >> /out/log
          (: > /proc/self/fd/7) 2>>/out/log && echo "wrote held truncate" >> /out/log
        fi
        touch /out/finished; exit 0;;
    esac
  done
  i=$((i+1))
done
touch /out/done /out/finished
"""


@pytest.mark.parametrize("privileged", [False, True], ids=["default-caps", "all-caps"])
def test_cve_2019_5736_runtime_binary_stays_unwritable(env, tmp_path, privileged):
    """CVE-2019-5736: the container makes a program of its own `#!/proc/self/exe`; when
    `exec` runs it, the kernel runs the runtime's binary (whatever /proc/self/exe is at
    execve) inside the container, where the container's init looks for it and opens its
    /proc/<pid>/exe for writing.  pyrunc's executor runs from a sealed memfd copy: the
    attacker sees the process (the test checks that, so it is not vacuous) but can write
    neither the copy nor the host file, which stays byte for byte the same.  With every
    capability (CAP_SYS_PTRACE lets it open a non-dumpable process's exe) the open reaches
    the sealed copy and the write is still refused.  The executor used is a copy (via
    PYRUNC_INIT), so a failing run harms only that copy."""
    import hashlib
    import shutil
    import subprocess
    import time

    from conftest import PYRUNC
    from pyrunc.executor import binary as init_binary
    canary = tmp_path / "pyrunc-init-canary"
    shutil.copy2(init_binary(), canary)
    digest = hashlib.sha256(canary.read_bytes()).hexdigest()
    out = tmp_path / "out"
    out.mkdir()

    def patch(c):
        c["mounts"].append({"destination": "/out", "type": "bind", "source": str(out), "options": ["bind"]})
        if privileged:
            c["process"]["capabilities"] = {k: _all_caps() for k in ("bounding", "effective", "permitted")}
    b = env.bundle(["sh", "-c", EVIL_ATTACKER], own_rootfs=True, patch=patch)
    with open(os.path.join(b, "rootfs", "bin", "evil"), "w") as f:
        f.write("#!/proc/self/exe\n")
    os.chmod(os.path.join(b, "rootfs", "bin", "evil"), 0o755)
    cid = env.new_id()
    penv = dict(os.environ, PYRUNC_INIT=str(canary))
    r = env.pyrunc("run", "-d", "--bundle", b, cid, env=penv)
    assert r.rc == 0, r
    # argv of the interpreter run: /proc/self/exe /bin/evil 5 6 -> the executor reads a plan
    # from stdin (atoi("/bin/evil") == 0), which stays open: a window as long as we like
    with open(tmp_path / "exec.out", "w") as eo:
        p = subprocess.Popen([PYRUNC, "--root", env.root, "exec", cid, "/bin/evil", "5", "6"],
                             stdin=subprocess.PIPE, stdout=eo, stderr=eo, env=penv)
        try:
            for _ in range(300):
                if (out / "done").exists():
                    break
                time.sleep(0.05)
        finally:
            (out / "stop").touch()
            p.stdin.close()
            p.wait(timeout=30)
    for _ in range(200):  # the attacker's second try, once the runtime's process is gone
        if (out / "finished").exists():
            break
        time.sleep(0.05)
    log = (out / "log").read_text() if (out / "log").exists() else ""
    assert "seen" in log, log  # the runtime's binary did run in the container
    assert "wrote" not in log, log
    assert hashlib.sha256(canary.read_bytes()).hexdigest() == digest
    if privileged:  # it held the binary open; once not running, the seals refuse writing
        assert "held" in log and "Operation not permitted" in log, log
    else:  # non-dumpable: not even opened
        assert "held" not in log and "Permission denied" in log, log


def test_cve_2025_52565_dev_console_symlink(env, tmp_path):
    """CVE-2025-52565: /dev/console in the rootfs is a symlink to a procfs file (and
    another to a host path); the pty is bound on a /dev/console that pyrunc makes, never
    through the symlink: the container's /dev/console is the pty, core_pattern is not a
    mount point, and nothing appears on the host."""
    outside = tmp_path / "outside"
    outside.mkdir()

    def patch(c):
        c["process"]["terminal"] = True
        c["mounts"] = [m for m in c["mounts"] if m["destination"] not in ("/dev",)]
    b = env.bundle(["sh", "-c", "stat -c '%F %t' /dev/console; test -L /dev/console || echo not-a-link; "
                    "grep -c core_pattern /proc/self/mountinfo; echo done"], own_rootfs=True, patch=patch)
    os.symlink("/proc/sys/kernel/core_pattern", os.path.join(b, "rootfs", "dev", "console"))
    before = open("/proc/sys/kernel/core_pattern").read()
    r = env.run(bundle=b, stdin=None)
    assert r.rc == 0, r
    lines = [l.strip() for l in r.out.replace("\r", "").splitlines()]
    assert lines[:4] == ["character special file 88", "not-a-link", "0", "done"], r
    assert open("/proc/sys/kernel/core_pattern").read() == before
    # a link pointing out of the rootfs: nothing is made or mounted outside
    b2 = env.bundle(["true"], own_rootfs=True, patch=patch)
    os.symlink(str(outside / "console"), os.path.join(b2, "rootfs", "dev", "console"))
    r = env.run(bundle=b2, stdin=None)
    assert r.rc == 0, r
    assert os.listdir(outside) == []


def test_cve_2025_52881_proc_writes_reach_the_real_procfs(env, tmp_path):
    """CVE-2025-52881: the config mounts decoy files over the procfs files pyrunc writes
    (a sysctl and oom_score_adj).  pyrunc writes through the host procfs it opened and
    checked before any mount of the container: the real settings change, the decoys do not."""
    import subprocess
    decoy = tmp_path / "decoy"
    decoy.write_text("decoy\n")
    decoy2 = tmp_path / "decoy2"
    decoy2.write_text("decoy\n")

    def patch(c):
        c["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
        c["process"]["oomScoreAdj"] = 321
        c["mounts"] += [
            {"destination": "/proc/sys/net/ipv4/ip_forward", "type": "bind", "source": str(decoy), "options": ["bind"]},
            {"destination": "/proc/1/oom_score_adj", "type": "bind", "source": str(decoy2), "options": ["bind"]}]
        c["linux"]["readonlyPaths"] = []
    b = env.bundle(["sleep", "1000"], patch=patch)
    cid = env.new_id()
    r = env.pyrunc("run", "-d", "--bundle", b, cid)
    assert r.rc == 0, r
    pid = env.state(cid)["pid"]
    assert decoy.read_text() == "decoy\n" and decoy2.read_text() == "decoy\n"
    assert open(f"/proc/{pid}/oom_score_adj").read().strip() == "321"
    fwd = subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", "cat", "/proc/sys/net/ipv4/ip_forward"],
                         capture_output=True, text=True)
    assert fwd.stdout.strip() == "1", fwd
    inside = env.pyrunc("exec", cid, "cat", "/proc/sys/net/ipv4/ip_forward")
    assert inside.out == "decoy\n", inside  # the decoy is really mounted there


def test_cve_2021_30465_destination_swapped_to_a_symlink(env, tmp_path):
    """CVE-2021-30465: while containers are created, another process keeps swapping a
    mount destination's parent between a directory and a symlink out of the rootfs
    (renameat2 RENAME_EXCHANGE, atomic).  pyrunc resolves every destination inside the root
    (openat2 RESOLVE_IN_ROOT) and mounts on the descriptor it resolved, so whatever the
    timing, nothing is made or mounted outside: each run either mounts inside or fails."""
    import ctypes
    import threading
    libc = ctypes.CDLL(None, use_errno=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    src = tmp_path / "src"
    src.mkdir()
    (src / "marker").write_text("m")

    def patch(c):
        c["mounts"].append({"destination": "/mnt/target/sub", "type": "bind", "source": str(src), "options": ["bind"]})
    b = env.bundle(["cat", "/mnt/target/sub/marker"], own_rootfs=True, patch=patch)
    mnt = os.path.join(b, "rootfs", "mnt")
    os.makedirs(os.path.join(mnt, "target"))
    os.symlink(str(outside), os.path.join(mnt, "link"))
    stop = threading.Event()
    swaps = [0]

    def swapper():
        a, t = os.path.join(mnt, "link").encode(), os.path.join(mnt, "target").encode()
        while not stop.is_set():
            if libc.renameat2(-100, a, -100, t, 2) == 0:  # AT_FDCWD, RENAME_EXCHANGE
                swaps[0] += 1
    th = threading.Thread(target=swapper, daemon=True)
    th.start()
    ok = 0
    try:
        for _ in range(25):
            r = env.run(bundle=b)
            ok += r.rc == 0 and r.out == "m"
            assert os.listdir(outside) == [], (r, os.listdir(outside))
    finally:
        stop.set()
        th.join()
    assert swaps[0] > 100, swaps  # the race really ran
    assert os.listdir(outside) == []


def test_exec_leaks_no_descriptor(env):
    """An exec'd process, like the init, gets only its stdio: not the caller's other fds,
    not the namespace fds, console socket or sync pipes pyrunc used to start it."""
    b = env.bundle(["sleep", "1000"])
    cid = env.new_id()
    assert env.pyrunc("run", "-d", "--bundle", b, cid).rc == 0
    r_fd, w_fd = os.pipe()
    os.set_inheritable(r_fd, True)
    try:
        r = env.pyrunc("exec", cid, "ls", "/proc/self/fd", pass_fds=(r_fd,))
    finally:
        os.close(r_fd)
        os.close(w_fd)
    assert r.rc == 0 and sorted(r.out.split()) == ["0", "1", "2", "3"], r  # 3 is ls's own dir fd

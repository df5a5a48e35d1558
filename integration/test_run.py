"""run as engines and systemd use it: socket activation fds (LISTEN_FDS), reaping what the
container leaves behind, and the terminal size of a relayed terminal."""

import os
import subprocess
import time

from conftest import PYRUNC


def test_listen_fds_pass_through(env, tmp_path):
    """As runc: with LISTEN_FDS=N for pyrunc's own pid, fds 3..3+N-1 reach the container
    with LISTEN_FDS=N and LISTEN_PID=1; --preserve-fds M keeps the M after them."""
    f = tmp_path / "data"
    f.write_text("x\n")
    b = env.bundle(["sh", "-c", "echo $LISTEN_FDS $LISTEN_PID; cat <&3 <&4 <&5; ls /proc/self/fd | wc -l"])
    wrap = f'exec 3<{f} 4<{f} 5<{f} 6<{f}; LISTEN_FDS=2 LISTEN_PID=$$ exec "$@"'
    r = env.pyrunc("--root", env.root, "run", "--preserve-fds", "1", "--bundle", b, env.new_id(),
                   root=False, wrap=wrap)
    assert r.rc == 0 and r.out.split() == ["2", "1", "x", "7"], r  # 0-5 and ls's own fd


def test_listen_fds_for_another_pid_are_ignored(env, tmp_path):
    f = tmp_path / "data"
    f.write_text("x\n")
    b = env.bundle(["sh", "-c", "echo ${LISTEN_FDS:-none}; ls /proc/self/fd | wc -l"])
    wrap = f'exec 3<{f}; LISTEN_FDS=1 LISTEN_PID=1 exec "$@"'
    r = env.pyrunc("--root", env.root, "run", "--bundle", b, env.new_id(), root=False, wrap=wrap)
    assert r.rc == 0 and r.out.split() == ["none", "4"], r


def _children_cmdlines(pid):
    out = []
    for p in os.listdir("/proc"):
        try:
            data = open(f"/proc/{p}/stat").read()
            if int(data[data.rindex(")") + 2:].split()[1]) == pid:
                out.append(open(f"/proc/{p}/cmdline").read())
        except (OSError, ValueError):
            continue
    return out


def _zombie_children(pid):
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            data = open(f"/proc/{p}/stat").read()
        except OSError:
            continue
        fields = data[data.rindex(")") + 2:].split()
        if fields[0] == "Z" and int(fields[1]) == pid:
            out.append(int(p))
    return out


def test_run_reaps_orphans(env):
    """A container in the host's pid namespace leaves an orphan: it is re-parented to
    `run` (a child subreaper, as runc) and reaped when it exits, not left a zombie."""
    def patch(c):
        c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "pid"]
    b = env.bundle(["sh", "-c", "(sleep 0.6 &); sleep 2"], patch=patch)
    p = subprocess.Popen([PYRUNC, "--root", env.root, "run", "--bundle", b, env.new_id()],
                         stdin=subprocess.DEVNULL)
    try:
        time.sleep(0.3)
        assert "sleep\x000.6" in "".join(_children_cmdlines(p.pid))  # the orphan is ours
        time.sleep(0.8)
        assert p.poll() is None
        assert _zombie_children(p.pid) == []
        assert p.wait(timeout=30) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()

"""Terminals: a config made by runc spec (terminal: true) runs unmodified under a pty, and
create hands the pty master to a --console-socket receiver, as conmon and containerd's
shim receive it."""

import array
import json
import os
import pty
import select
import shutil
import socket
import subprocess
import time

import pytest

from conftest import PYRUNC


def read_until(fd, needle, timeout=20):
    buf = b""
    deadline = time.time() + timeout
    while needle not in buf and time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
    return buf


@pytest.mark.skipif(not shutil.which("runc"), reason="runc is not installed")
@pytest.mark.parametrize("flags", [[], ["--rootless"]], ids=["spec", "spec-rootless"])
def test_runc_spec_runs_unmodified_under_a_pty(env, tmp_path, flags):
    """`runc spec` output, byte for byte, with a busybox rootfs: an interactive sh."""
    bundle = tmp_path / "runcspec"
    bundle.mkdir()
    subprocess.run(["runc", "spec", "--bundle", str(bundle)] + flags, check=True)
    os.symlink(env.rootfs, bundle / "rootfs")
    cfg = json.loads((bundle / "config.json").read_text())
    assert cfg["process"]["terminal"] is True and "cgroupsPath" not in cfg["linux"]
    cid = env.new_id()
    # no cgroupsPath: runc's default nests under our own cgroup; start pyrunc in a new
    # cgroup namespace so that "our own cgroup" is the hierarchy root, not this session's
    pid, fd = pty.fork()
    if pid == 0:
        os.execv("/usr/bin/unshare", ["unshare", "--cgroup", PYRUNC, "--root", env.root, "run",
                                      "--bundle", str(bundle), cid])
    try:
        out = read_until(fd, b"# ")
        assert b"# " in out, out
        os.write(fd, b"echo pid=$$ tty=$(readlink /proc/self/fd/0); hostname; exit 7\r")
        out = read_until(fd, b"\x00", timeout=10)
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    assert b"pid=1 tty=/dev/pts/0" in out and b"runc" in out, out
    assert os.waitstatus_to_exitcode(status) == 7
    # runc's default cgroup (relative): gone after run
    assert not any(os.path.exists(f"/sys/fs/cgroup/{h}/{cid}") for h in os.listdir("/sys/fs/cgroup"))


def recv_master(sock):
    conn, _ = sock.accept()
    fds = array.array("i")
    msg, anc, _, _ = conn.recvmsg(1024, socket.CMSG_SPACE(4))
    for level, typ, data in anc:
        if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
            fds.frombytes(data[:4])
    conn.close()
    return msg, fds[0]


def test_console_socket(env, tmp_path):
    path = str(tmp_path / "console.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.listen(1)

    def patch(c):
        c["process"]["terminal"] = True
        c["process"]["consoleSize"] = {"height": 33, "width": 101}
    b = env.bundle(["sh", "-c", "stty size; tty; read line; echo got:$line"], patch=patch)
    cid = env.new_id()
    r = env.pyrunc("create", "--console-socket", path, "--bundle", b, cid)
    assert r.rc == 0, r
    msg, master = recv_master(sock)
    sock.close()
    assert msg == b"/dev/ptmx"
    assert env.pyrunc("start", cid).rc == 0
    try:
        out = read_until(master, b"/dev/pts/0")
        os.write(master, b"hello\n")
        out += read_until(master, b"got:hello")
    finally:
        os.close(master)
    assert b"33 101" in out and b"/dev/console" not in out and b"got:hello" in out, out
    for _ in range(100):
        if env.state(cid)["status"] == "stopped":
            break
        time.sleep(0.05)
    assert env.pyrunc("delete", cid).rc == 0


def test_dev_console_is_the_pty(env, tmp_path):
    path = str(tmp_path / "c.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.listen(1)
    b = env.bundle(["sh", "-c", "stat -c '%t:%T' /dev/console $(tty)"],
                   patch=lambda c: c["process"].update(terminal=True))
    cid = env.new_id()
    assert env.pyrunc("create", "--console-socket", path, "--bundle", b, cid).rc == 0
    _, master = recv_master(sock)
    sock.close()
    assert env.pyrunc("start", cid).rc == 0
    out = read_until(master, b"\n", timeout=10)
    out += read_until(master, b"\n", timeout=2)
    os.close(master)
    lines = out.decode().split()
    assert len(lines) == 2 and lines[0] == lines[1] and lines[0].startswith("88:"), out
    assert env.pyrunc("delete", "-f", cid).rc == 0

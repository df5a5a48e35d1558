"""--pidfd-socket (runc 1.2) for create, run and exec: a pidfd of the container's init (or of
the exec'd process) arrives on the unix socket with the init's kind as the message, and
signals the process through it.  runc 1.1.5 (installed here) predates the flag."""

import array
import os
import signal
import socket
import threading
import time


class Receiver:
    """A listening unix socket; the first connection's message and descriptor."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(1)
        self.got = None
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        conn, _ = self.sock.accept()
        with conn:
            fds = array.array("i")
            msg, anc, _, _ = conn.recvmsg(64, socket.CMSG_SPACE(4))
            for level, kind, data in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.frombytes(data[:4])
            self.got = (msg, fds[0] if fds else None)

    def result(self):
        self.thread.join(timeout=30)
        self.sock.close()
        return self.got


def fd_pid(fd):
    with open(f"/proc/self/fdinfo/{fd}") as f:
        return int(next(line.split()[1] for line in f if line.startswith("Pid:")))


def test_create_and_exec(env, tmp_path):
    rx = Receiver(str(tmp_path / "pidfd.sock"))
    b = env.bundle(["sleep", "100"])
    cid = env.new_id()
    r = env.pyrunc("create", "--pidfd-socket", rx.path, "--bundle", b, cid)
    assert r.rc == 0, r
    msg, fd = rx.result()
    assert msg == b"standard" and fd is not None
    try:
        assert fd_pid(fd) == env.state(cid)["pid"]
        assert env.pyrunc("start", cid).rc == 0
        rx = Receiver(str(tmp_path / "pidfd2.sock"))
        r = env.pyrunc("exec", "-d", "--pid-file", str(tmp_path / "p"), "--pidfd-socket", rx.path, cid, "sleep", "50")
        assert r.rc == 0, r
        msg2, fd2 = rx.result()
        try:
            assert msg2 == b"setns" and fd_pid(fd2) == int((tmp_path / "p").read_text())
        finally:
            os.close(fd2)
        signal.pidfd_send_signal(fd, signal.SIGKILL)  # the init, through its pidfd
        deadline = time.monotonic() + 10
        while env.state(cid)["status"] != "stopped" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert env.state(cid)["status"] == "stopped"
    finally:
        os.close(fd)
    assert env.pyrunc("delete", "--force", cid).rc == 0


def test_run(env, tmp_path):
    rx = Receiver(str(tmp_path / "pidfd.sock"))
    r = env.pyrunc("run", "--pidfd-socket", rx.path, "--bundle", env.bundle(["true"]), env.new_id())
    assert r.rc == 0, r
    msg, fd = rx.result()
    assert msg == b"standard"
    os.close(fd)


def test_a_socket_nobody_listens_on(env, tmp_path):
    """create fails in one line and leaves nothing (the env fixture checks)."""
    b = env.bundle(["sleep", "100"])
    r = env.pyrunc("create", "--pidfd-socket", str(tmp_path / "none.sock"), "--bundle", b, env.new_id())
    assert r.rc == 1 and "failed to dial" in r.err and len(r.err.strip().splitlines()) == 1, r

"""exec: a new process in a running container, as runc exec (flags, exit codes, namespaces,
cgroups, terminals, preserved fds, failures)."""

import json
import os
import pty
import signal
import socket
import subprocess
import time

import pytest
from test_container import NS_FILES, ns_patch, userns

from conftest import PYRUNC
from test_terminal import read_until, recv_master

ALL_NS = ["pid", "network", "ipc", "uts", "mount", "cgroup", "time", "user"]


def running(env, patch=None, args=("sleep", "1000")):
    """A detached running container; returns its id."""
    b = env.bundle(list(args), patch=patch)
    cid = env.new_id()
    r = env.pyrunc("run", "-d", "--bundle", b, cid, stdin=subprocess.DEVNULL)
    assert r.rc == 0, r
    return cid


def test_exit_code_env_cwd_user(env):
    def patch(c):
        c["process"]["env"] = ["PATH=/bin", "FROM_CONFIG=1"]
        c["process"]["user"] = {"uid": 0, "gid": 0}
    cid = running(env, patch)
    r = env.pyrunc("exec", cid, "sh", "-c", "exit 42")
    assert r.rc == 42 and r.err == "", r
    r = env.pyrunc("exec", "-e", "A=b", "--env", "C=d e", "--cwd", "/dev", "-u", "1000:1001",
                   "-g", "7", "--additional-gids", "8", cid,
                   "sh", "-c", 'echo "$FROM_CONFIG $A $C"; pwd; id -u; id -g; id -G; echo $$')
    assert r.rc == 0, r
    lines = r.out.splitlines()
    assert lines[:4] == ["1 b d e", "/dev", "1000", "1001"], r
    assert set(lines[4].split()) == {"1001", "7", "8"}, r
    assert lines[5] != "1"  # a new process, not the init
    # flags after the id belong to the command, as under runc
    r = env.pyrunc("exec", cid, "printf", "%s,", "-u", "--cwd")
    assert r.rc == 0 and r.out == "-u,--cwd,", r


def test_exec_joins_every_namespace(env):
    """With all eight namespaces (a user namespace included), the exec'd process is in
    each of the init's, not the host's."""
    cid = running(env, ns_patch(ALL_NS, userns))
    pid = env.state(cid)["pid"]
    script = "for n in pid net ipc uts mnt cgroup user time; do echo $n $(readlink /proc/self/ns/$n); done; id -u"
    r = env.pyrunc("exec", cid, "sh", "-c", script)
    assert r.rc == 0, r
    lines = r.out.splitlines()
    inside = dict(l.split() for l in lines[:-1])
    for f in NS_FILES.values():
        assert inside[f] == os.readlink(f"/proc/{pid}/ns/{f}"), f
        assert inside[f] != os.readlink(f"/proc/self/ns/{f}"), f
    assert lines[-1] == "0"


def test_exec_shares_host_namespaces_it_does_not_have(env):
    cid = running(env, ns_patch(["mount", "pid"], lambda c: c.pop("hostname", None)))
    r = env.pyrunc("exec", cid, "sh", "-c", "readlink /proc/self/ns/net; readlink /proc/self/ns/mnt")
    assert r.rc == 0, r
    net, mnt = r.out.split()
    assert net == os.readlink("/proc/self/ns/net") and mnt != os.readlink("/proc/self/ns/mnt")


def test_exec_joins_the_cgroup(env):
    cid = running(env, ns_patch(["pid", "mount", "ipc", "uts", "network"]))
    pid = env.state(cid)["pid"]
    r = env.pyrunc("exec", cid, "cat", "/proc/self/cgroup")
    assert r.rc == 0, r
    init = open(f"/proc/{pid}/cgroup").read()
    assert sorted(r.out.splitlines()) == sorted(init.splitlines()), (r.out, init)


def test_detach_and_pid_file(env, tmp_path):
    cid = running(env)
    pf = tmp_path / "exec.pid"
    r = env.pyrunc("exec", "-d", "--pid-file", str(pf), cid, "sleep", "30")
    assert r.rc == 0 and r.out == "" and r.err == "", r
    pid = int(pf.read_text())
    assert open(f"/proc/{pid}/cmdline").read().split("\0")[0] == "sleep"
    assert open(f"/proc/{pid}/cgroup").read() == open(f"/proc/{env.state(cid)['pid']}/cgroup").read()
    r = env.pyrunc("ps", "--format", "json", cid)
    assert pid in json.loads(r.out)


def test_process_json(env, tmp_path):
    cid = running(env)
    p = {"args": ["sh", "-c", "echo $X; pwd; id -u; exit 5"], "cwd": "/proc", "env": ["X=from-json", "PATH=/bin"],
         "user": {"uid": 12, "gid": 13}}
    f = tmp_path / "process.json"
    f.write_text(json.dumps(p))
    r = env.pyrunc("exec", "--process", str(f), cid)
    assert r.rc == 5 and r.out.split() == ["from-json", "/proc", "12"], r
    f.write_text(json.dumps(dict(p, cwd="relative")))
    r = env.pyrunc("exec", "-p", str(f), cid)
    assert r.rc == 255 and "cwd" in r.err and len(r.err.splitlines()) == 1, r
    f.write_text("{bad")
    r = env.pyrunc("exec", "-p", str(f), cid)
    assert r.rc == 255 and "not valid JSON" in r.err, r


def test_exec_capabilities(env):
    """--cap adds to bounding, effective and permitted only (CVE-2022-29162: never to
    inheritable); unknown names are a warning (runtime-spec: SHOULD NOT fail; runc)."""
    def patch(c):
        c["process"]["capabilities"] = {k: ["CAP_KILL"] for k in
                                        ("bounding", "effective", "permitted")}
    cid = running(env, patch)
    r = env.pyrunc("exec", "--cap", "CAP_NET_RAW", cid, "grep", "^Cap", "/proc/self/status")
    assert r.rc == 0, r
    caps = {l.split(":")[0]: int(l.split()[1], 16) for l in r.out.splitlines()}
    want = (1 << 5) | (1 << 13)
    assert caps["CapBnd"] == want and caps["CapEff"] == want and caps["CapPrm"] == want, caps
    assert caps["CapInh"] == 0 and caps["CapAmb"] == 0, caps
    r = env.pyrunc("exec", "--cap", "CAP_BOGUS", cid, "true")  # as runc: warned about, left out
    assert r.rc == 0 and "warning: ignoring unknown or unavailable capabilities: [CAP_BOGUS]" in r.err, r


def test_no_new_privs_flag(env):
    cid = running(env, lambda c: c["process"].update(noNewPrivileges=False))
    r = env.pyrunc("exec", cid, "grep", "NoNewPrivs", "/proc/self/status")
    assert r.out.split()[-1] == "0", r
    r = env.pyrunc("exec", "--no-new-privs", cid, "grep", "NoNewPrivs", "/proc/self/status")
    assert r.out.split()[-1] == "1", r


def test_exec_failures(env, tmp_path):
    """One line, exit 255 and a JSON log line, as runc ("exec failed: …")."""
    cid = running(env)
    log = tmp_path / "log.json"
    for args, needle in [([cid, "no-such-binary"], 'exec: "no-such-binary": executable file not found'),
                         ([cid], "exec args cannot be empty"),
                         (["--cwd", "/no/such/dir", cid, "true"], "/no/such/dir"),
                         (["-u", "x", cid, "true"], "bad uid"),
                         (["-g", "-1", cid, "true"], "positive"),
                         (["--apparmor", "p", cid, "true"], "apparmorProfile"),
                         (["no-such-container", "true"], "does not exist")]:
        r = env.pyrunc("--log", str(log), "--log-format", "json", "exec", *args)
        assert r.rc == 255, (args, r)
        lines = r.err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("pyrunc: exec failed: ") and needle in lines[0], (args, r)
        entry = json.loads(log.read_text().splitlines()[-1])
        assert entry["level"] == "error" and entry["msg"] == lines[0][len("pyrunc: "):]
    # nothing of the failed execs is left in the container
    r = env.pyrunc("ps", "--format", "json", cid)
    assert json.loads(r.out) == [env.state(cid)["pid"]], r


def test_exec_into_stopped_and_paused(env):
    cid = running(env, args=("true",))
    for _ in range(100):
        if env.state(cid)["status"] == "stopped":
            break
        time.sleep(0.05)
    r = env.pyrunc("exec", cid, "true")
    assert r.rc == 255 and "cannot exec in a stopped container" in r.err, r
    cid = running(env)
    assert env.pyrunc("pause", cid).rc == 0
    r = env.pyrunc("exec", cid, "true")
    assert r.rc == 255 and "cannot exec in a paused container" in r.err, r
    # --ignore-paused: the process starts frozen and runs once the container resumes
    # (runc's behaviour); meanwhile the process in the container is the sealed executor
    p = subprocess.Popen([PYRUNC, "--root", env.root, "exec", "--ignore-paused", cid, "echo", "ok"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        init = env.state(cid)["pid"]
        cg = [l.strip().split(":", 2)[2] for l in open(f"/proc/{init}/cgroup") if l.split(":")[1] == "freezer"][0]
        procs = f"/sys/fs/cgroup/freezer{cg}/cgroup.procs"
        exe = None
        for _ in range(200):
            others = [int(x) for x in open(procs).read().split() if int(x) != init]
            if others:
                exe = os.readlink(f"/proc/{others[0]}/exe")
                break
            time.sleep(0.02)
        assert exe is not None and exe.startswith("/memfd:pyrunc-init"), exe
        with pytest.raises(OSError):
            os.open(f"/proc/{others[0]}/exe", os.O_WRONLY)
        assert p.poll() is None
        assert env.pyrunc("resume", cid).rc == 0
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0 and out == "ok\n", (out, err)


def test_exec_cwd_cannot_leave_the_container(env):
    """CVE-2024-21626 class: --cwd /proc/self/fd/N reaches no descriptor of the runtime,
    and the exec'd process sees only its stdio."""
    cid = running(env)
    for n in range(3, 12):
        r = env.pyrunc("exec", "--cwd", f"/proc/self/fd/{n}", cid, "sh", "-c", "pwd; ls ..")
        assert r.rc == 255 and "exec failed" in r.err, (n, r)
    r = env.pyrunc("exec", cid, "ls", "/proc/self/fd")
    assert r.rc == 0 and sorted(r.out.split()) == ["0", "1", "2", "3"], r  # 3: ls's own


def test_exec_preserve_fds(env, tmp_path):
    cid = running(env)
    f = tmp_path / "data"
    f.write_text("preserved\n")
    r = env.pyrunc("--root", env.root, "exec", "--preserve-fds", "2", cid, "sh", "-c",
                   "cat <&3; cat <&4; ls /proc/self/fd | wc -l", root=False,
                   wrap=f"exec 3<{f} 4<{f} 5<{f}; exec \"$@\"")
    assert r.rc == 0 and r.out.split() == ["preserved", "preserved", "6"], r  # 0-4 + ls's own


def test_exec_forwards_signals(env):
    cid = running(env)
    p = subprocess.Popen([PYRUNC, "--root", env.root, "exec", cid, "sh", "-c",
                          "trap 'echo got-term; exit 3' TERM; echo ready; while :; do sleep 0.1; done"],
                         stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline() == "ready\n"
        p.send_signal(signal.SIGTERM)
        out, _ = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert out == "got-term\n" and p.returncode == 3, (out, p.returncode)


def test_exec_tty_under_a_pty(env):
    """exec -t relays a new pty of the container: raw mode, the caller's window size, the
    exit status."""
    cid = running(env)
    pid, fd = pty.fork()
    if pid == 0:
        import fcntl
        import struct
        import termios
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 21, 77, 0, 0))
        os.execv(PYRUNC, [PYRUNC, "--root", env.root, "exec", "-t", cid, "sh"])
    try:
        out = read_until(fd, b"# ")
        assert b"# " in out, out
        os.write(fd, b"tty; stty size; exit 9\r")
        out = read_until(fd, b"\x00", timeout=10)
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    assert b"/dev/pts/" in out and b"21 77" in out, out
    assert os.waitstatus_to_exitcode(status) == 9


def test_exec_console_socket(env, tmp_path):
    """exec -t --console-socket: the master of a new pty in the container's devpts is sent
    over the socket; the receiver reads and writes through it."""
    cid = running(env)
    path = str(tmp_path / "exec.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.listen(1)
    p = subprocess.Popen([PYRUNC, "--root", env.root, "exec", "-t", "--console-socket", path, cid,
                          "sh", "-c", "tty; read x; echo got:$x; exit 4"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        msg, master = recv_master(sock)
        sock.close()
        out = read_until(master, b"/dev/pts/")
        os.write(master, b"hello\n")
        out += read_until(master, b"got:hello")
        rc = p.wait(timeout=30)  # before closing the master: its hangup would kill sh
        os.close(master)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert msg == b"/dev/ptmx" and b"got:hello" in out, out
    assert rc == 4
    r = env.pyrunc("exec", "--console-socket", path, cid, "true")
    assert r.rc == 255 and "tty" in r.err, r


def test_exec_in_created_container(env):
    """As runc: exec works before start (the init waits on the exec fifo)."""
    b = env.bundle(["true"])
    cid = env.new_id()
    assert env.pyrunc("create", "--bundle", b, cid).rc == 0
    r = env.pyrunc("exec", cid, "echo", "before-start")
    assert r.rc == 0 and r.out == "before-start\n", r
    assert env.state(cid)["status"] == "created"
    assert env.pyrunc("delete", "-f", cid).rc == 0


def test_exec_gets_the_container_process_settings(env):
    """Without --process, the exec'd process gets the container's rlimits, umask, user,
    capabilities and noNewPrivileges, as runc."""
    def patch(c):
        c["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 123, "hard": 456}]
        c["process"]["user"] = {"uid": 7, "gid": 8, "umask": 0o027}
        c["process"]["noNewPrivileges"] = True
    cid = running(env, patch)
    r = env.pyrunc("exec", cid, "sh", "-c", "ulimit -n; ulimit -Hn; umask; id -u; id -g; "
                   "grep -E '^(NoNewPrivs|CapEff)' /proc/self/status")
    assert r.rc == 0, r
    out = r.out.split()
    assert out[:5] == ["123", "456", "0027", "7", "8"], r
    assert out[6] == "0000000000000000" and out[8] == "1", r


def test_exec_session_keyring_follows_create(env):
    """As runc: exec joins the container's `_ses.<id>` keyring, and none with a container
    created with --no-new-keyring."""
    script = "grep -o '_ses[^ ]*' /proc/keys"
    for flags, want in (([], True), (["--no-new-keyring"], False)):
        b = env.bundle(["sleep", "1000"], patch=lambda c: c["linux"].update(maskedPaths=[]))
        cid = env.new_id()
        assert env.pyrunc("run", "-d", *flags, "--bundle", b, cid).rc == 0
        r = env.pyrunc("exec", cid, "sh", "-c", script)
        assert (f"_ses.{cid}:" in r.out.split()) == want, (flags, r)

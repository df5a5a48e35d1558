"""linux.seccomp, compiled with libseccomp and loaded right before execve: every action,
errno values, argument conditions with every operator, architectures, flags, and the
filter applying to exec'd processes too.  Each effect is observed from inside."""

import re

import pytest

CHMOD_SCRIPT = "touch /tmp/f; for m in {modes}; do chmod $m /tmp/f 2>/dev/null && echo $m:ok || echo $m:no; done"


def profile(default="SCMP_ACT_ALLOW", syscalls=(), **kw):
    sc = {"defaultAction": default, "syscalls": list(syscalls)}
    sc.update(kw)
    return sc


def patch_for(sc, nnp=True, user=None):
    def patch(c):
        c["linux"]["seccomp"] = sc
        c["process"]["noNewPrivileges"] = nnp
        if user:
            c["process"]["user"] = user
        c["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                            "options": ["mode=1777"]})
    return patch


def all_syscall_names():
    text = open("/usr/include/x86_64-linux-gnu/asm/unistd_64.h").read()
    return re.findall(r"#define __NR_(\w+) \d+", text)


@pytest.mark.parametrize("nnp,user", [(True, None), (False, None), (False, {"uid": 1000, "gid": 1000})],
                         ids=["nnp", "no-nnp-root", "no-nnp-user"])
def test_errno_with_and_without_errno_ret(env, nnp, user):
    """ERRNO with errnoRet gives that errno, without it EPERM; with no_new_privs off and a
    non-root user the filter still loads (the executor keeps CAP_SYS_ADMIN until then)."""
    sc = profile(syscalls=[{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                           {"names": ["rmdir", "unlinkat"], "action": "SCMP_ACT_ERRNO"},
                           {"names": ["no_such_syscall_at_all"], "action": "SCMP_ACT_ERRNO"}])
    r = env.sh("mkdir /tmp/x; rmdir /tmp; grep ^Seccomp: /proc/self/status; id -u",
               patch=patch_for(sc, nnp, user))
    assert "mkdir: can't create directory '/tmp/x': Function not implemented" in r.err, r
    assert "Operation not permitted" in r.err, r
    assert r.out.split()[:2] == ["Seccomp:", "2"], r
    assert r.out.split()[2] == ("1000" if user else "0"), r


def test_default_action_and_default_errno_ret(env):
    """Default ERRNO with defaultErrnoRet, every syscall but mkdir/mkdirat allowed."""
    names = [n for n in all_syscall_names() if n not in ("mkdir", "mkdirat")]
    sc = profile("SCMP_ACT_ERRNO", [{"names": names, "action": "SCMP_ACT_ALLOW"}], defaultErrnoRet=5)
    r = env.sh("mkdir /tmp/x; echo done", patch=patch_for(sc))
    assert r.out == "done\n" and "Input/output error" in r.err, r


@pytest.mark.parametrize("action,expect", [
    ("SCMP_ACT_KILL", "159"), ("SCMP_ACT_KILL_THREAD", "159"), ("SCMP_ACT_KILL_PROCESS", "159"),
    ("SCMP_ACT_TRAP", "159"), ("SCMP_ACT_LOG", "0"), ("SCMP_ACT_ALLOW", "0"),
])
def test_actions(env, action, expect):
    """sched_getaffinity(2) (nproc) under each action: the kill actions and TRAP end it
    with SIGSYS (128+31), LOG and ALLOW let it run."""
    sc = profile(syscalls=[{"names": ["sched_getaffinity"], "action": action}])
    if action == "SCMP_ACT_ALLOW":
        sc = profile("SCMP_ACT_LOG", [{"names": ["sched_getaffinity"], "action": action}])
    # a subshell: busybox runs some applets inside the shell itself
    r = env.sh("(nproc >/dev/null 2>&1); echo $?", patch=patch_for(sc))
    assert r.rc == 0 and r.out.strip() == expect, r


def test_trace_without_tracer(env):
    """TRACE with no tracer attached: the syscall fails with ENOSYS."""
    sc = profile(syscalls=[{"names": ["chmod", "fchmodat"], "action": "SCMP_ACT_TRACE"}])
    r = env.sh("touch /tmp/f; chmod 700 /tmp/f", patch=patch_for(sc))
    assert r.rc != 0 and "Function not implemented" in r.err, r


@pytest.mark.parametrize("op,value,value2,blocked", [
    ("SCMP_CMP_EQ", 0o700, None, {"700"}),
    ("SCMP_CMP_NE", 0o700, None, {"711", "755", "777"}),
    ("SCMP_CMP_LT", 0o755, None, {"700", "711"}),
    ("SCMP_CMP_LE", 0o755, None, {"700", "711", "755"}),
    ("SCMP_CMP_GT", 0o711, None, {"755", "777"}),
    ("SCMP_CMP_GE", 0o711, None, {"711", "755", "777"}),
    ("SCMP_CMP_MASKED_EQ", 0o007, 0o007, {"777"}),
])
def test_argument_operators(env, op, value, value2, blocked):
    def cond(index):
        c = {"index": index, "value": value, "op": op}
        if value2 is not None:
            c["valueTwo"] = value2
        return c
    sc = profile(syscalls=[{"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "args": [cond(1)]},
                           {"names": ["fchmodat"], "action": "SCMP_ACT_ERRNO", "args": [cond(2)]}])
    modes = ["700", "711", "755", "777"]
    r = env.sh(CHMOD_SCRIPT.format(modes=" ".join(modes)), patch=patch_for(sc))
    got = {l.split(":")[0] for l in r.out.split() if l.endswith(":no")}
    assert got == blocked, r


def test_conditions_and_or(env):
    """Conditions on different arguments form one rule (AND); two on the same argument
    become separate rules (OR), as runc."""
    same = [{"index": 2, "value": 0o700, "op": "SCMP_CMP_EQ"}, {"index": 2, "value": 0o777, "op": "SCMP_CMP_EQ"}]
    diff = [{"index": 2, "value": 0o700, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]
    for args, blocked in ((same, {"700", "777"}), (diff, set())):
        sc = profile(syscalls=[{"names": ["fchmodat"], "action": "SCMP_ACT_ERRNO", "args": args},
                               {"names": ["chmod"], "action": "SCMP_ACT_ERRNO",
                                "args": [dict(a, index=a["index"] - 1) for a in args if a["index"]]}])
        r = env.sh(CHMOD_SCRIPT.format(modes="700 755 777"), patch=patch_for(sc))
        got = {l.split(":")[0] for l in r.out.split() if l.endswith(":no")}
        if args is diff:  # fchmodat's dirfd is AT_FDCWD (-100), never 0: not blocked there
            assert "755:ok" in r.out and "777:ok" in r.out, r
        else:
            assert got == blocked, r


def test_architectures_and_flags(env):
    sc = profile(syscalls=[{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}],
                 architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                 flags=["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                        "SECCOMP_FILTER_FLAG_TSYNC"])
    r = env.sh("mkdir /tmp/x || echo blocked", patch=patch_for(sc))
    assert r.out == "blocked\n", r


def test_exec_gets_the_filter(env):
    sc = profile(syscalls=[{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}])
    b = env.bundle(["sleep", "1000"], patch=patch_for(sc, nnp=False))
    cid = env.new_id()
    assert env.pyrunc("run", "-d", "--bundle", b, cid).rc == 0
    r = env.pyrunc("exec", cid, "sh", "-c", "mkdir /tmp/y; grep ^Seccomp: /proc/self/status")
    assert "Function not implemented" in r.err and r.out.split() == ["Seccomp:", "2"], r


class Agent:
    """A seccomp agent at listenerPath: receives the container process state and the notify
    fd (as the runtime-spec describes), then answers every notification with ENOTTY."""
    RECV, SEND = 0xC0502100, 0xC0182101  # SECCOMP_IOCTL_NOTIF_RECV / _SEND
    ENOTTY = 25

    def __init__(self, path):
        import socket
        import threading
        self.path = path
        self.states, self.syscalls = [], []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(4)
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        import json
        import socket
        import threading
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            msg, fds, _, _ = socket.recv_fds(conn, 1 << 16, 4)
            conn.close()
            self.states.append((json.loads(msg), len(fds)))
            threading.Thread(target=self._serve, args=(fds[0],), daemon=True).start()

    def _serve(self, fd):
        import fcntl
        import os
        import struct
        try:
            while True:
                req = bytearray(80)
                try:
                    fcntl.ioctl(fd, self.RECV, req)
                except OSError:
                    return  # every process of the filter is gone
                nid, pid, _flags, nr = struct.unpack_from("=QIIi", req)
                self.syscalls.append((pid, nr))
                resp = bytearray(struct.pack("=QqiI", nid, 0, -self.ENOTTY, 0))
                try:
                    fcntl.ioctl(fd, self.SEND, resp)
                except OSError:
                    pass
        finally:
            os.close(fd)

    def close(self):
        self.sock.close()


def test_notify_agent_gets_the_fd_and_answers(env, tmp_path):
    """SCMP_ACT_NOTIFY: the agent at listenerPath gets the state (status creating, the
    init's pid, listenerMetadata) and the fd; its answers are the syscalls' results, for
    the container's process and for an exec'd one (which gets its own connection)."""
    agent = Agent(str(tmp_path / "agent.sock"))
    try:
        sc = profile(syscalls=[{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}],
                     listenerPath=agent.path, listenerMetadata="from-the-test",
                     flags=["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"])
        b = env.bundle(["sh", "-c", "mkdir /tmp/x; echo rc=$?; sleep 1000"], patch=patch_for(sc, nnp=False))
        cid = env.new_id()
        r = env.pyrunc("run", "-d", "--bundle", b, cid)
        assert r.rc == 0, r
        pid = env.state(cid)["pid"]
        (state, nfds), = agent.states
        assert nfds == 1 and state["fds"] == ["seccompFd"] and state["pid"] == pid, state
        assert state["metadata"] == "from-the-test" and state["ociVersion"]
        assert state["state"]["status"] == "creating" and state["state"]["id"] == cid
        assert state["state"]["pid"] == pid and state["state"]["bundle"] == b
        r = env.pyrunc("exec", cid, "sh", "-c", "mkdir /tmp/y; echo rc=$?")
        assert r.rc == 0 and r.out == "rc=1\n" and "Inappropriate ioctl" in r.err, r
        assert len(agent.states) == 2
        exec_state = agent.states[1][0]
        assert exec_state["pid"] != pid and exec_state["state"]["pid"] == pid
        assert exec_state["state"]["status"] == "running"
        import time
        for _ in range(100):  # the container's mkdir and the exec'd one, asked of the agent
            if len(agent.syscalls) >= 2:
                break
            time.sleep(0.05)
        assert len(agent.syscalls) >= 2, agent.syscalls
    finally:
        agent.close()

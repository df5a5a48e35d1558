"""Where pyrunc differed from runc (1.1.5, checked side by side on this machine), as engines,
tools and other projects' tests saw it (issue 15).  Each test failed before its fix; where
runc is at hand, the same scenario runs on it too, to prove the test."""

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import time

import pytest

from conftest import PYRUNC, Result

RUNC = shutil.which("runc")


def runc(env, *args, **kw):
    cp = subprocess.run([RUNC, "--root", env.root + "-runc", *args], capture_output=True, text=True,
                        timeout=60, **kw)
    return Result(cp.returncode, cp.stdout, cp.stderr)


def both(env, args, patch=None, **kw):
    """Run a container with pyrunc and with runc; (pyrunc's Result, runc's Result)."""
    b = env.bundle(args, patch=patch)
    p = env.pyrunc("run", "--bundle", b, env.new_id(), **kw)
    r = runc(env, "run", "--bundle", b, env.new_id() + "-r", **kw)
    return p, r


# --- values engines send -------------------------------------------------------------------

def test_zero_means_unset(env, tmp_path):
    """Docker sends blockIO.weight 0, cpu.shares/quota/period 0, pids.limit 0 and
    memory.kernel 0 on every create and update: unset, not refused (nor warned about)."""
    def patch(c):
        c["linux"]["resources"].update({
            "blockIO": {"weight": 0, "leafWeight": 0}, "cpu": {"shares": 0, "quota": 0, "period": 0},
            "pids": {"limit": 0}, "memory": {"limit": 67108864, "kernel": 0, "kernelTCP": 0,
                                             "reservation": 0}})
    b = env.bundle(["sleep", "1000"], patch=patch)
    cid = env.new_id()
    log = tmp_path / "log.json"
    r = env.pyrunc("--log", str(log), "--log-format", "json", "run", "-d", "--bundle", b, cid)
    assert r.rc == 0 and r.err == "", r
    req = {"memory": {"limit": 134217728, "reservation": 0, "kernel": 0},
           "cpu": {"shares": 0, "quota": 0, "period": 0}, "blockIO": {"weight": 0}}
    r = env.pyrunc("--log", str(log), "--log-format", "json", "update", "--resources", "-", cid,
                   input=json.dumps(req))
    assert r.rc == 0 and r.err == "", r
    assert not log.exists() or "warning" not in log.read_text(), log.read_text()
    assert env.pyrunc("delete", "--force", cid).rc == 0


def test_update_warnings_go_to_the_log(env, tmp_path):
    """A successful update that has something to warn about (kernel memory, which runc also
    ignores) says so in --log, never on stderr (containerd merges stderr into its output)."""
    b = env.bundle(["sleep", "1000"])
    cid = env.new_id()
    assert env.pyrunc("run", "-d", "--bundle", b, cid).rc == 0
    log = tmp_path / "log.json"
    r = env.pyrunc("--log", str(log), "--log-format", "json", "update", "--resources", "-", cid,
                   input=json.dumps({"memory": {"kernel": 1 << 20}}))
    assert r.rc == 0 and r.err == "", r
    assert json.loads(log.read_text().splitlines()[-1])["level"] == "warning"
    assert env.pyrunc("delete", "--force", cid).rc == 0


# --- the process -------------------------------------------------------------------------

PASSWD = "root:x:0:0:root:/root:/bin/sh\nu1000:x:1000:1000::/home/u1000:/bin/sh\n"


@pytest.mark.parametrize("uid,home", [(0, "/root"), (1000, "/home/u1000"), (4242, "/")])
def test_home_from_passwd(env, uid, home):
    """No HOME in process.env: the container's /etc/passwd says it for the uid, else "/"."""
    b = env.bundle(["sleep", "1000"], own_rootfs=True,
                   patch=lambda c: c["process"].update(user={"uid": uid, "gid": uid}))
    with open(os.path.join(b, "rootfs", "etc", "passwd"), "w") as f:
        f.write(PASSWD)
    cid = env.new_id()
    assert env.pyrunc("run", "-d", "--bundle", b, cid).rc == 0
    r = env.pyrunc("exec", cid, "sh", "-c", "echo $HOME")
    assert r.rc == 0 and r.out.strip() == home, r
    r = env.pyrunc("exec", "--env", "HOME=/mine", cid, "sh", "-c", "echo $HOME")
    assert r.out.strip() == "/mine", r
    assert env.pyrunc("delete", "--force", cid).rc == 0
    r = env.run(bundle=env.bundle(["sh", "-c", "echo $HOME"], patch=lambda c: c["process"].update(
        user={"uid": 0, "gid": 0})))
    assert r.out.strip() in ("/root", "/"), r


def test_exec_env_replaces(env):
    b = env.bundle(["sleep", "1000"], patch=lambda c: c["process"]["env"].extend(["A=1", "B=2"]))
    cid = env.new_id()
    assert env.pyrunc("run", "-d", "--bundle", b, cid).rc == 0
    r = env.pyrunc("exec", "--env", "A=9", "--env", "C=3", cid, "env")
    got = [e for e in r.out.split() if e[:2] in ("A=", "B=", "C=")]
    assert sorted(got) == ["A=9", "B=2", "C=3"], r
    assert env.pyrunc("delete", "--force", cid).rc == 0


def test_exec_process_without_user_runs_as_root(env, tmp_path):
    b = env.bundle(["sleep", "1000"])
    cid = env.new_id()
    assert env.pyrunc("run", "-d", "--bundle", b, cid).rc == 0
    pf = tmp_path / "p.json"
    pf.write_text(json.dumps({"args": ["id"], "cwd": "/", "env": ["PATH=/bin"]}))
    r = env.pyrunc("exec", "--process", str(pf), cid)
    assert r.rc == 0 and r.out.startswith("uid=0(root) gid=0(root)"), r
    assert env.pyrunc("delete", "--force", cid).rc == 0


def test_cwd_that_only_root_can_enter(env):
    """process.cwd is entered before the uid changes, as runc: a directory of mode 0700
    owned by root is the cwd of a uid-1000 process (which cannot list it)."""
    b = env.bundle(["sh", "-c", "pwd; ls . >/dev/null 2>&1 || echo cannot-list"], own_rootfs=True,
                   patch=lambda c: c["process"].update(user={"uid": 1000, "gid": 1000}, cwd="/private"))
    os.mkdir(os.path.join(b, "rootfs", "private"), 0o700)
    p = env.pyrunc("run", "--bundle", b, env.new_id())
    assert p.rc == 0 and p.out.split() == ["/private", "cannot-list"], p
    if RUNC:
        r = runc(env, "run", "--bundle", b, env.new_id() + "-r")
        assert r.rc == 0 and r.out.split() == ["/private", "cannot-list"], r


def test_stdio_belongs_to_the_process(env):
    """As runc: the process's stdio (pipes of the caller here) is chowned to its uid, so a
    non-root program can reopen /dev/stdout."""
    p, r = both(env, ["sh", "-c", "stat -L -c %u /proc/self/fd/1; echo via-dev-stdout >> /dev/stdout"],
                patch=lambda c: c["process"].update(user={"uid": 1000, "gid": 1000}))
    assert p.rc == 0 and p.out.split() == ["1000", "via-dev-stdout"], p
    if RUNC:
        assert r.rc == 0 and r.out.split() == ["1000", "via-dev-stdout"], r


def test_terminal_belongs_to_the_process(env, tmp_path):
    """The pty of a terminal process is owned by the process's uid, with devpts' tty gid."""
    from test_terminal import read_until, recv_master
    path = str(tmp_path / "c.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.listen(1)
    b = env.bundle(["sh", "-c", "stat -c '%u:%g' $(tty)"],
                   patch=lambda c: c["process"].update(terminal=True, user={"uid": 1000, "gid": 1000}))
    cid = env.new_id()
    assert env.pyrunc("create", "--console-socket", path, "--bundle", b, cid).rc == 0
    _, master = recv_master(sock)
    sock.close()
    assert env.pyrunc("start", cid).rc == 0
    out = read_until(master, b"\n", timeout=10)
    os.close(master)
    assert out.decode().strip() == "1000:5", out
    assert env.pyrunc("delete", "-f", cid).rc == 0


def test_oom_score_adj_with_a_user_namespace(env):
    def patch(c):
        c["process"]["oomScoreAdj"] = 500
        c["linux"]["namespaces"].append({"type": "user"})
        c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
        c["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    b = env.bundle(["sh", "-c", "cat /proc/self/oom_score_adj"], own_rootfs=True, patch=patch)
    subprocess.run(["chown", "-R", "200000:200000", os.path.join(b, "rootfs")], check=True)
    r = env.run(bundle=b)
    assert r.rc == 0 and r.out.strip() == "500", r


# --- user namespaces: what is the host's is opened on the host side ------------------------

def _userns(c):
    c["linux"]["namespaces"].append({"type": "user"})
    c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    c["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]


def test_userns_bind_of_a_root_only_directory(env, tmp_path):
    """--userns-remap / podman --uidmap bind volumes from root-only directories: the
    container's root (uid 200000 on the host) could not open them itself."""
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    (private / "data").mkdir()
    (private / "data" / "f").write_text("secret-ok")

    def patch(c):
        _userns(c)
        c["mounts"].append({"destination": "/data", "type": "bind", "source": str(private / "data"),
                            "options": ["rbind", "ro"]})
    b = env.bundle(["cat", "/data/f"], own_rootfs=True, patch=patch)
    subprocess.run(["chown", "-R", "200000:200000", os.path.join(b, "rootfs")], check=True)
    r = env.run(bundle=b)
    assert r.rc == 0 and r.out == "secret-ok", r


def test_userns_console_socket_in_a_root_only_directory(env, tmp_path):
    from test_terminal import read_until, recv_master
    d = tmp_path / "sockdir"
    d.mkdir(mode=0o700)
    path = str(d / "c.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.listen(1)

    def patch(c):
        _userns(c)
        c["process"]["terminal"] = True
    b = env.bundle(["sh", "-c", "tty"], own_rootfs=True, patch=patch)
    subprocess.run(["chown", "-R", "200000:200000", os.path.join(b, "rootfs")], check=True)
    cid = env.new_id()
    r = env.pyrunc("create", "--console-socket", path, "--bundle", b, cid)
    assert r.rc == 0, r
    _, master = recv_master(sock)
    sock.close()
    assert env.pyrunc("start", cid).rc == 0
    out = read_until(master, b"/dev/pts/0", timeout=10)
    os.close(master)
    assert b"/dev/pts/0" in out, out
    assert env.pyrunc("delete", "-f", cid).rc == 0


def test_joined_user_namespace_with_mappings(env):
    """Docker with --userns-remap and --network container:X sends the other container's user
    namespace by path together with the mappings: accepted, as runc accepts it."""
    b = env.bundle(["sleep", "1000"], own_rootfs=True, patch=_userns)
    subprocess.run(["chown", "-R", "200000:200000", os.path.join(b, "rootfs")], check=True)
    first = env.new_id()
    assert env.pyrunc("run", "-d", "--bundle", b, first).rc == 0
    pid = env.state(first)["pid"]

    def join(c):
        _userns(c)
        c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] not in ("user", "network")]
        c["linux"]["namespaces"] += [{"type": "user", "path": f"/proc/{pid}/ns/user"},
                                     {"type": "network", "path": f"/proc/{pid}/ns/net"}]
    b2 = env.bundle(["sh", "-c", "cat /proc/self/uid_map"], patch=join)
    os.unlink(os.path.join(b2, "config.json"))
    cfg = json.load(open(os.path.join(b, "config.json")))
    join(cfg)
    cfg["process"]["args"] = ["sh", "-c", "cat /proc/self/uid_map"]
    cfg["linux"]["cgroupsPath"] = f"{env.cgparent}/joined"
    cfg["root"]["path"] = os.path.join(b, "rootfs")
    with open(os.path.join(b2, "config.json"), "w") as f:
        json.dump(cfg, f)
    r = env.run(bundle=b2)
    assert r.rc == 0 and r.out.split() == ["0", "200000", "65536"], r
    assert env.pyrunc("delete", "-f", first).rc == 0


# --- mounts --------------------------------------------------------------------------------

def test_tmpcopyup(env):
    """podman adds tmpcopyup to every --tmpfs (and the tmpfs mounts of --read-only): the
    tmpfs starts with what the directory held."""
    def patch(c):
        c["mounts"].append({"destination": "/etc", "type": "tmpfs", "source": "tmpfs",
                            "options": ["tmpcopyup", "mode=755"]})
    p, r = both(env, ["sh", "-c", "cat /etc/group | head -1; echo new > /etc/x && cat /etc/x; "
                      "grep ' /etc ' /proc/self/mountinfo | cut -d' ' -f9"], patch=patch)
    assert p.rc == 0 and p.out.split() == ["root:x:0:", "new", "tmpfs"], p
    if RUNC:
        assert r.out == p.out, (r, p)


def test_read_only_dev(env):
    """A read-only /dev: the devices, links and mount points under it are made first."""
    def patch(c):
        dev = next(m for m in c["mounts"] if m["destination"] == "/dev")
        dev["options"].append("ro")
    p, r = both(env, ["sh", "-c", "ls /dev/null /dev/pts/ptmx >/dev/null && touch /dev/x 2>/dev/null || "
                      "echo dev-is-read-only"], patch=patch)
    assert p.rc == 0 and p.out.strip() == "dev-is-read-only", p
    if RUNC:
        assert r.out == p.out, (r, p)


def test_read_only_bind_with_a_mount_below_it(env, tmp_path):
    src = tmp_path / "src"
    src.mkdir()

    def patch(c):
        c["mounts"] += [{"destination": "/ro", "type": "bind", "source": str(src), "options": ["rbind", "ro"]},
                        {"destination": "/ro/sub", "type": "tmpfs", "source": "tmpfs"}]
    r = env.run(["sh", "-c", "touch /ro/sub/ok && echo sub-rw; touch /ro/x 2>/dev/null || echo ro-ro"],
                patch=patch)
    assert r.rc == 0 and r.out.split() == ["sub-rw", "ro-ro"], r


# --- seccomp -------------------------------------------------------------------------------

SYSCALL_PROG = r"""
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(void) {
    long r = syscall(SYS_getppid);       /* listed nowhere, below the largest listed */
    printf("getppid:%s\n", r < 0 ? (errno == EPERM ? "EPERM" : strerror(errno)) : "ok");
    r = syscall(435);                    /* clone3, newer than the profile */
    printf("clone3:%s\n", r < 0 ? (errno == ENOSYS ? "ENOSYS" : strerror(errno)) : "ok");
    return 0;
}
"""

ALLOWED = ["read", "write", "open", "openat", "close", "fstat", "newfstatat", "mmap", "mprotect",
           "munmap", "brk", "rt_sigaction", "rt_sigprocmask", "ioctl", "access", "execve", "exit",
           "exit_group", "arch_prctl", "set_tid_address", "set_robust_list", "readlink",
           "getrandom", "prlimit64", "uname", "futex", "lseek", "writev", "rseq", "fcntl",
           # runc 1.1.5 (Go) after its filter: /proc/self/fd, and its scheduler under load
           "statfs", "fstatfs", "getdents64", "sched_yield", "nanosleep", "clock_nanosleep", "tgkill",
           "gettid", "getpid", "rt_sigreturn", "sigaltstack", "madvise", "clone", "mincore",
           "epoll_pwait", "epoll_ctl", "pipe2"]


@pytest.mark.skipif(not shutil.which("gcc"), reason="gcc is needed to build the test program")
def test_seccomp_enosys_for_newer_syscalls(env, tmp_path):
    """runc's -ENOSYS stub: a syscall newer than any the profile names gets ENOSYS (glibc then
    falls back), one the profile does not name but older gets the default action (EPERM)."""
    src = tmp_path / "p.c"
    src.write_text(SYSCALL_PROG)
    b = env.bundle(["/prog"], own_rootfs=True, patch=lambda c: c["linux"].update(seccomp={
        "defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ALLOWED, "action": "SCMP_ACT_ALLOW"}]}))
    subprocess.run(["gcc", "-static", "-O2", "-o", os.path.join(b, "rootfs", "prog"), str(src)], check=True)
    r = env.run(bundle=b)
    assert r.rc == 0 and r.out.split() == ["getppid:EPERM", "clone3:ENOSYS"], r
    if RUNC:
        rr = runc(env, "run", "--bundle", b, env.new_id() + "-r")
        assert rr.out == r.out, (rr, r)


def test_seccomp_applies_to_start_container_hooks(env):
    """As runc: the filter is loaded before the init waits for start, so the startContainer
    hooks (run by the init) run under it."""
    hook = {"path": "/bin/sh", "args": ["sh", "-c", "mkdir /tmp/hook-made || exit 7"]}

    def patch(c):
        c["hooks"] = {"startContainer": [hook]}
        c["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"})
        c["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}
    r = env.run(["true"], patch=patch)
    assert r.rc != 0 and "startContainer hook #0: exit status 7" in r.err, r


# --- cgroups -------------------------------------------------------------------------------

def _cg(env, name, hierarchy):
    return f"/sys/fs/cgroup/{hierarchy}{env.cgparent}/{name}"


def _rmdirs(env, *names):
    """The cgroups a test made itself (a container's own are removed by delete)."""
    for name in names:
        for h in os.listdir("/sys/fs/cgroup"):
            d = f"/sys/fs/cgroup/{h}{env.cgparent}/{name}"
            if os.path.isdir(d):
                os.rmdir(d)


def test_frozen_cgroup_is_refused(env):
    """A cgroup that is already frozen would freeze the init: refused, never a hang."""
    os.makedirs(_cg(env, "frozen", "freezer"))
    with open(_cg(env, "frozen", "freezer") + "/freezer.state", "w") as f:
        f.write("FROZEN")
    b = env.bundle(["true"], patch=lambda c: c["linux"].update(cgroupsPath=f"{env.cgparent}/frozen"))
    try:
        r = env.run(bundle=b, timeout=30)
    finally:
        with open(_cg(env, "frozen", "freezer") + "/freezer.state", "w") as f:
            f.write("THAWED")
        _rmdirs(env, "frozen")
    assert r.rc == 1 and "container's cgroup unexpectedly frozen" in r.err, r


@pytest.mark.parametrize("via", ["front", "python"])
def test_delete_force_removes_sub_cgroups(env, via):
    """A container that made cgroups inside its own (systemd in it, or docker-in-docker):
    delete --force removes them and their processes too."""
    b = env.bundle(["sleep", "1000"])
    cid = env.new_id()
    assert env.pyrunc("run", "-d", "--bundle", b, cid).rc == 0
    pid = env.state(cid)["pid"]
    with open(f"/proc/{pid}/cgroup") as f:
        mem = next(line.split(":")[2].strip() for line in f if ":memory:" in line)
    sub = f"/sys/fs/cgroup/memory{mem}/inner/deeper"
    os.makedirs(sub)
    # a process that is not ours (a zombie child of ours would keep the cgroup busy until
    # we reaped it; the container's own are reaped by its init)
    sh = subprocess.run(["sh", "-c", "sleep 1000 >/dev/null 2>&1 & echo $!"], capture_output=True, text=True)
    orphan = int(sh.stdout)
    pidfd = os.pidfd_open(orphan)
    try:
        with open(f"{sub}/cgroup.procs", "w") as f:
            f.write(str(orphan))
        args = ["delete", "--force", cid]
        r = env.pyrunc(*args) if via == "front" else env.pyrunc("--debug", *args)
        assert r.rc == 0, r
        assert not os.path.exists(f"/sys/fs/cgroup/memory{mem}")
        assert select.select([pidfd], [], [], 10)[0], "the process in the sub-cgroup lives on"
    finally:
        try:
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.close(pidfd)


def test_empty_cpuset_parent_is_filled(env):
    """An existing parent cgroup with empty cpuset.cpus/mems admits no process: filled from
    its own parent, as runc does for every cgroup of the path."""
    parent = f"/sys/fs/cgroup/cpuset{env.cgparent}/emptyparent"
    os.makedirs(parent)
    with open(parent + "/cpuset.cpus") as f:
        assert f.read().strip() == ""
    b = env.bundle(["true"], patch=lambda c: c["linux"].update(cgroupsPath=f"{env.cgparent}/emptyparent/c"))
    try:
        r = env.run(bundle=b)
    finally:
        _rmdirs(env, "emptyparent/c", "emptyparent")
    assert r.rc == 0, r


@pytest.mark.parametrize("limit", [1, 0])
def test_pids_limit_one_and_zero(env, limit):
    """pids.limit 1 lets the one-process container start (the executor's first stage is gone
    before the limit is set); 0 is unset, as runc."""
    r = env.run(["sh", "-c", "exec cat /sys/fs/cgroup/pids/pids.max"],
                patch=lambda c: c["linux"]["resources"].update(pids={"limit": limit}))
    assert r.rc == 0 and r.out.strip() == ("1" if limit == 1 else "max"), r


# --- the command line ----------------------------------------------------------------------

def test_kill_all_signal_zero(env):
    b = env.bundle(["sleep", "1000"])
    cid = env.new_id()
    assert env.pyrunc("run", "-d", "--bundle", b, cid).rc == 0
    assert env.pyrunc("kill", "--all", cid, "0").rc == 0
    assert env.pyrunc("kill", cid, "0").rc == 0
    assert env.state(cid)["status"] == "running"
    assert env.pyrunc("delete", "--force", cid).rc == 0


def test_compact_json(env, tmp_path):
    """events and --log-format json print JSON as runc (Go) does: no spaces."""
    b = env.bundle(["sleep", "1000"])
    cid = env.new_id()
    assert env.pyrunc("run", "-d", "--bundle", b, cid).rc == 0
    r = env.pyrunc("events", "--stats", cid)
    assert r.out.startswith('{"type":"stats","id":"' + cid + '","data":{'), r
    log = tmp_path / "l.json"
    env.pyrunc("--log", str(log), "--log-format", "json", "kill", cid, "NOPE")
    assert log.read_text().startswith('{"level":"error","msg":"invalid signal: NOPE","time":"'), log.read_text()
    assert env.pyrunc("delete", "--force", cid).rc == 0


@pytest.mark.parametrize("cmd", ["create", "run", "start", "state", "kill", "delete", "list", "pause",
                                 "resume", "ps", "events", "update", "features", "exec", "spec"])
def test_help_of_every_command(env, cmd):
    for flag in ("-h", "--help"):
        r = env.pyrunc(cmd, flag)
        assert r.rc == 0 and r.out.startswith("usage: pyrunc " + cmd), r


@pytest.mark.parametrize("what,needle", [("/bin/nope", "stat /bin/nope: no such file or directory"),
                                         ("/etc/passwd", "permission denied"),
                                         ("/etc", "permission denied")])
def test_exec_errors_as_go_words_them(env, what, needle):
    """dockerd maps a failed start to exit 127 or 126 on "no such file or directory" and
    "permission denied", lower case, as Go writes them."""
    p, r = both(env, [what])
    assert p.rc != 0 and needle in p.err and f'exec: "{what}"' in p.err, p
    if RUNC:
        assert needle in r.err, r


# --- another runtime's containers ----------------------------------------------------------

@pytest.mark.skipif(not RUNC, reason="runc is not installed")
def test_runc_container_in_a_shared_root_is_never_touched(env):
    """Docker shares one --root between the runtimes it knows.  pyrunc read runc's state.json
    as a stopped container and `delete` removed a running runc container's state, orphaning
    its processes.  Every command must refuse it by name; list leaves it out."""
    b = env.bundle(["sleep", "1000"])
    cid = "runc-" + env.new_id()
    cp = subprocess.run([RUNC, "--root", env.root, "run", "-d", "--bundle", b, cid],
                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert cp.returncode == 0, cp
    state = os.path.join(env.root, cid, "state.json")
    before = open(state, "rb").read()
    try:
        for args in (["state", cid], ["kill", cid, "KILL"], ["delete", cid], ["delete", "--force", cid],
                     ["start", cid], ["pause", cid], ["exec", cid, "true"], ["update", "--pids-limit", "5", cid],
                     ["ps", cid], ["events", "--stats", cid]):
            r = env.pyrunc(*args)
            assert r.rc != 0 and "was not created by pyrunc" in r.err, (args, r)
        assert cid not in env.pyrunc("list").out
        assert open(state, "rb").read() == before
        cp = subprocess.run([RUNC, "--root", env.root, "state", cid], capture_output=True, text=True)
        assert json.loads(cp.stdout)["status"] == "running"
    finally:
        subprocess.run([RUNC, "--root", env.root, "delete", "--force", cid], capture_output=True)


def test_run_needs_no_tmp(env, tmp_path):
    """run relays its own terminal through a socketpair: no named socket in a /tmp that a
    cleaner or another user could empty (here: a read-only /tmp)."""
    import pty

    from test_terminal import read_until
    b = env.bundle(["sh", "-c", "tty; exit 3"], patch=lambda c: c["process"].update(terminal=True))
    cid = env.new_id()
    pid, fd = pty.fork()
    if pid == 0:
        # a private mount namespace: an empty read-only /tmp with only this test's
        # directory (bundle, state, rootfs) bound back in
        script = ('exec 9<"$0" && mount -t tmpfs tmpfs /tmp && mkdir -p "$0" && '
                  'mount --no-canonicalize --bind /proc/self/fd/9 "$0" && exec 9<&- && '
                  'mount -o remount,ro /tmp && '
                  'exec "$@"')
        os.execv("/usr/bin/unshare", ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                                      script, str(tmp_path),
                                      PYRUNC, "--root", env.root, "run", "--bundle", b, cid])
    try:
        out = read_until(fd, b"\x00", timeout=20)
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    assert b"/dev/pts/0" in out and os.waitstatus_to_exitcode(status) == 3, out
    time.sleep(0)

"""Bad input: one line on stderr, a JSON line in --log, a non-zero exit, nothing left behind.

The env fixture fails the test if a state directory, cgroup or mount of the test remains;
each case here also checks that no process of the container survives.
"""

import json
import os

import pytest


def check_failed(env, r, log, *needles):
    assert r.rc != 0, r
    lines = r.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("pyrunc: "), r.err
    for n in needles:
        assert n in lines[0], (n, lines[0])
    entries = [json.loads(l) for l in open(log).read().splitlines()]
    assert entries and entries[-1]["level"] == "error" and entries[-1]["msg"] == lines[0][len("pyrunc: "):]
    assert entries[-1]["time"].endswith("Z")
    assert not os.path.isdir(env.root) or os.listdir(env.root) == [], os.listdir(env.root)


def pyrunc_logged(env, tmp_path, *args):
    log = str(tmp_path / "log.json")
    return env.pyrunc("--log", log, "--log-format", "json", *args), log


def set_in(path, value):
    def patch(c):
        node = c
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = value
    return patch


BAD_CONFIGS = [
    ("uid-type", set_in(["process", "user", "uid"], "root"), ["process.user.uid", "expected integer"]),
    ("ns-type", set_in(["linux", "namespaces"], [{"type": "mount"}, {"type": "bogus"}]),
     ["linux.namespaces[1].type", "'bogus'"]),
    ("hostname-no-uts", set_in(["linux", "namespaces"], [{"type": "mount"}]), ["hostname", "uts"]),
    ("dup-ns", set_in(["linux", "namespaces"], [{"type": "uts"}, {"type": "mount"}, {"type": "mount"}]),
     ["duplicate namespace"]),
    ("propagation", set_in(["linux", "rootfsPropagation"], "sideways"), ["linux.rootfsPropagation"]),
    ("rlimit", set_in(["process", "rlimits"], [{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}]),
     ["RLIMIT_BOGUS"]),
    ("capability", set_in(["process", "capabilities", "bounding"], [7]), ["capabilities.bounding[0]"]),
    ("no-args", set_in(["process", "args"], []), ["process.args"]),
    ("relative-cwd", set_in(["process", "cwd"], "work"), ["process.cwd"]),
    ("seccomp-action", set_in(["linux", "seccomp"], {"defaultAction": "SCMP_ACT_MAYBE"}),
     ["linux.seccomp.defaultAction", "SCMP_ACT_MAYBE"]),
    ("seccomp-notify", set_in(["linux", "seccomp"], {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}), ["SCMP_ACT_NOTIFY", "listenerPath is not set"]),
    ("seccomp-notify-default", set_in(["linux", "seccomp"], {"defaultAction": "SCMP_ACT_NOTIFY",
                                                             "listenerPath": "/x"}), ["default action"]),
    ("seccomp-notify-write", set_in(["linux", "seccomp"], {"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/x",
                                                           "syscalls": [{"names": ["mkdir", "write"],
                                                                         "action": "SCMP_ACT_NOTIFY"}]}),
     ["syscalls[0]", "write syscall"]),
    ("seccomp-killable-alone", set_in(["linux", "seccomp"], {"defaultAction": "SCMP_ACT_ALLOW",
                                                             "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]}),
     ["WAIT_KILLABLE_RECV", "SCMP_ACT_NOTIFY"]),
    ("seccomp-agent-absent", set_in(["linux", "seccomp"], {"defaultAction": "SCMP_ACT_ALLOW",
                                                           "listenerPath": "/nonexistent/agent.sock",
                                                           "syscalls": [{"names": ["mkdir"],
                                                                         "action": "SCMP_ACT_NOTIFY"}]}),
     ["seccomp fd", "/nonexistent/agent.sock"]),
    ("seccomp-arch", set_in(["linux", "seccomp"], {"defaultAction": "SCMP_ACT_ALLOW",
                                                   "architectures": ["SCMP_ARCH_Z80"]}), ["SCMP_ARCH_Z80"]),
    ("seccomp-op", set_in(["linux", "seccomp"], {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 1, "value": 1, "op": "SCMP_CMP_ABOUT"}]}]}),
     ["syscalls[0].args[0]", "SCMP_CMP_ABOUT"]),
    ("seccomp-errno-on-allow", set_in(["linux", "seccomp"], {"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 1}),
     ["errnoRet"]),
    ("hook-path", set_in(["hooks"], {"prestart": [{"path": "bin/true"}]}), ["hooks.prestart[0].path"]),
    ("hook-timeout", set_in(["hooks"], {"poststop": [{"path": "/bin/true", "timeout": 0}]}),
     ["hooks.poststop[0].timeout"]),
    ("swappiness", set_in(["linux", "resources"], {"memory": {"swappiness": 200}}),
     ["linux.resources.memory.swappiness", "0-100"]),
    ("swap-below-limit", set_in(["linux", "resources"], {"memory": {"limit": 8 << 20, "swap": 4 << 20}}),
     ["linux.resources.memory"]),
    ("hugepage-size", set_in(["linux", "resources"], {"hugepageLimits": [{"pageSize": "3MB", "limit": 0}]}),
     ["linux.resources.hugepageLimits[0]", "3MB"]),
    ("blkio-weight", set_in(["linux", "resources"], {"blockIO": {"weight": 5}}),
     ["linux.resources.blockIO.weight"]),
    ("unified-slash", set_in(["linux", "resources"], {"unified": {"../memory.max": "1"}}),
     ["linux.resources.unified"]),
    ("unified-controller", set_in(["linux", "resources"], {"unified": {"nosuch.max": "1"}}),
     ["linux.resources.unified", "nosuch"]),
    ("cpuset-cpus", set_in(["linux", "resources"], {"cpu": {"cpus": "9999"}}),
     ["linux.resources.cpu.cpus"]),
    ("device-access", set_in(["linux", "resources"], {"devices": [{"allow": True, "access": "rwx"}]}),
     ["linux.resources.devices[0]"]),
    ("sysctl", set_in(["linux", "sysctl"], {"kernel.panic": "1"}), ["kernel.panic", "not in a separate"]),
    ("mount-type", set_in(["mounts"], [{"destination": "/x", "type": "nosuchfs", "source": "x"}]),
     ["mount x (nosuchfs) on /x"]),
    ("bind-source", set_in(["mounts"], [{"destination": "/x", "type": "bind", "source": "/nonexistent/src",
                                         "options": ["bind"]}]), ["/nonexistent/src"]),
    ("idmap-not-bind", set_in(["mounts"], [{"destination": "/x", "type": "tmpfs", "source": "t",
                                            "options": ["idmap"]}]), ["mounts[0]", "only supported for bind"]),
    ("idmap-no-userns", set_in(["mounts"], [{"destination": "/x", "type": "bind", "source": "/tmp",
                                             "options": ["rbind", "idmap"]}]), ["mounts[0]", "needs a user namespace"]),
    ("idmap-half", set_in(["mounts"], [{"destination": "/x", "type": "bind", "source": "/tmp", "options": ["bind"],
                                        "uidMappings": [{"containerID": 0, "hostID": 1, "size": 1}]}]),
     ["mounts[0]", "both uidMappings and gidMappings"]),
    ("remount", set_in(["mounts"], [{"destination": "/x", "type": "tmpfs", "source": "t",
                                     "options": ["remount"]}]), ["remount", "not supported yet"]),
    ("ns-path", set_in(["linux", "namespaces"], [{"type": "mount"}, {"type": "uts"},
                                                  {"type": "network", "path": "/nonexistent/ns"}]),
     ["/nonexistent/ns"]),
    ("missing-binary", set_in(["process", "args"], ["no-such-program"]),
     ["executable file not found in $PATH", "no-such-program"]),
    ("not-executable", set_in(["process", "args"], ["/etc/passwd"]), ["/etc/passwd", "ermission denied"]),
    ("terminal", set_in(["process", "terminal"], True), ["--console-socket"]),
    ("version", set_in(["ociVersion"], "2.0.0"), ["ociVersion"]),
    ("uidmap-no-userns", set_in(["linux", "uidMappings"], [{"containerID": 0, "hostID": 0, "size": 1}]),
     ["no new user namespace"]),
    ("ioprio-class", set_in(["process", "ioPriority"], {"class": "IOPRIO_CLASS_XX", "priority": 1}),
     ["process.ioPriority.class", "IOPRIO_CLASS_XX"]),
    ("ioprio-level", set_in(["process", "ioPriority"], {"class": "IOPRIO_CLASS_BE", "priority": 8}),
     ["process.ioPriority.priority", "8 is more than 7"]),
    ("sched-policy", set_in(["process", "scheduler"], {"policy": "SCHED_NOPE"}), ["process.scheduler.policy"]),
    ("sched-nice", set_in(["process", "scheduler"], {"policy": "SCHED_OTHER", "nice": 20}),
     ["process.scheduler.nice", "20 is more than 19"]),
    ("sched-prio-other", set_in(["process", "scheduler"], {"policy": "SCHED_BATCH", "priority": 5}),
     ["process.scheduler.priority", "SCHED_FIFO or SCHED_RR"]),
    ("sched-fifo-no-prio", set_in(["process", "scheduler"], {"policy": "SCHED_FIFO"}),
     ["process.scheduler.priority", "between 1 and 99"]),
    ("sched-deadline-times", set_in(["process", "scheduler"], {"policy": "SCHED_RR", "priority": 1, "runtime": 5}),
     ["process.scheduler", "SCHED_DEADLINE"]),
    ("sched-flag", set_in(["process", "scheduler"], {"policy": "SCHED_OTHER", "flags": ["SCHED_FLAG_NOPE"]}),
     ["process.scheduler.flags[0]", "SCHED_FLAG_NOPE"]),
    ("personality-domain", set_in(["linux", "personality"], {"domain": "LINUX64"}),
     ["linux.personality.domain", "LINUX64"]),
    ("personality-flags", set_in(["linux", "personality"], {"domain": "LINUX", "flags": ["X"]}),
     ["linux.personality.flags", "defines no personality flags"]),
    # this host's CPUs have no RDT: no resctrl (tests/test_intelrdt.py has the rest)
    ("intel-rdt", set_in(["linux", "intelRdt"], {"closID": "gold", "l3CacheSchema": "L3:0=f"}),
     ["config.json: linux.intelRdt is set, but Intel RDT is not enabled on this host"]),
    ("mempolicy-mode", set_in(["linux", "memoryPolicy"], {"mode": "MPOL_NOPE"}), ["linux.memoryPolicy.mode"]),
    ("mempolicy-nodes", set_in(["linux", "memoryPolicy"], {"mode": "MPOL_BIND", "nodes": "0-x"}),
     ["linux.memoryPolicy.nodes", "0-x"]),
    ("mempolicy-no-nodes", set_in(["linux", "memoryPolicy"], {"mode": "MPOL_BIND"}),
     ["linux.memoryPolicy.nodes", "required for MPOL_BIND"]),
    ("mempolicy-flags", set_in(["linux", "memoryPolicy"], {"mode": "MPOL_BIND", "nodes": "0", "flags": [
        "MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"]}), ["linux.memoryPolicy.flags", "exclude each other"]),
    ("mempolicy-kernel", set_in(["linux", "memoryPolicy"], {"mode": "MPOL_BIND", "nodes": "1000"}),
     ["set_mempolicy", "nodes '1000'"]),
    ("cpu-affinity", set_in(["process", "execCPUAffinity"], {"initial": "5-2"}),
     ["process.execCPUAffinity.initial", "bad range"]),
    # a deadline task the kernel refuses (runtime above deadline): the executor's error, with errno
    ("sched-deadline-kernel", set_in(["process", "scheduler"], {"policy": "SCHED_DEADLINE", "runtime": 20000000,
                                                                 "deadline": 10000000, "period": 10000000}),
     ["sched_setattr policy 6", "Invalid argument"]),
]

# AppArmor and SELinux are applied where the host has them; where it does not, a profile or
# label is refused with its name (runc refuses them too), never run unconfined.
from pyrunc import lsm  # noqa: E402

if not lsm.apparmor_enabled():
    BAD_CONFIGS.append(("apparmor", set_in(["process", "apparmorProfile"], "pyrunc-test-profile"),
                        ["process.apparmorProfile", "pyrunc-test-profile", "AppArmor is not enabled"]))
if not lsm.selinux_enabled():
    BAD_CONFIGS += [
        ("selinux", set_in(["process", "selinuxLabel"], "system_u:system_r:container_t:s0"),
         ["process.selinuxLabel", "container_t", "SELinux is not enabled"])]


@pytest.mark.parametrize("name,patch,needles", BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS])
def test_bad_config(env, tmp_path, name, patch, needles):
    b = env.bundle(["true"], patch=patch)
    cid = env.new_id()
    r, log = pyrunc_logged(env, tmp_path, "create", "--bundle", b, cid)
    check_failed(env, r, log, *needles)
    if name == "terminal":
        return  # run relays the terminal itself: only create needs a console socket
    r, log = pyrunc_logged(env, tmp_path, "run", "--bundle", b, env.new_id())
    check_failed(env, r, log, *needles)


def test_malformed_json(env, tmp_path):
    b = env.bundle(["true"])
    with open(os.path.join(b, "config.json"), "w") as f:
        f.write('{"ociVersion": "1.0.0", "process": ')
    r, log = pyrunc_logged(env, tmp_path, "create", "--bundle", b, env.new_id())
    check_failed(env, r, log, "not valid JSON")


def test_missing_config_and_bundle(env, tmp_path):
    r, log = pyrunc_logged(env, tmp_path, "create", "--bundle", str(tmp_path), env.new_id())
    check_failed(env, r, log, "config.json not found")
    r, log = pyrunc_logged(env, tmp_path, "create", "--bundle", str(tmp_path / "nope"), env.new_id())
    check_failed(env, r, log, "not a directory")


def test_missing_rootfs(env, tmp_path):
    b = env.bundle(["true"], patch=set_in(["root", "path"], "/nonexistent/rootfs"))
    r, log = pyrunc_logged(env, tmp_path, "create", "--bundle", b, env.new_id())
    check_failed(env, r, log, "rootfs", "/nonexistent/rootfs")


@pytest.mark.parametrize("cid", ["../x", "a/b", "x" * 1024, ".", "..", "a b", "ä", "a\nb"])
def test_hostile_ids(env, tmp_path, cid):
    b = env.bundle(["true"])
    args = ["create", "--bundle", b, "--", cid] if cid.startswith("-") else ["create", "--bundle", b, cid]
    r, log = pyrunc_logged(env, tmp_path, *args)
    check_failed(env, r, log, "container id")
    assert not os.path.exists(os.path.join(str(tmp_path), "x"))
    for cmd in ("state", "start", "kill", "delete"):
        r = env.pyrunc(cmd, "--", cid)
        assert r.rc != 0 and "container id" in r.err, (cmd, r)
    assert env.pyrunc("delete", "--force", "--", cid).rc != 0


def test_duplicate_id_leaves_first_alone(env, tmp_path):
    b = env.bundle(["sleep", "100"])
    cid = env.new_id()
    assert env.pyrunc("create", "--bundle", b, cid).rc == 0
    before = env.state(cid)
    r, log = pyrunc_logged(env, tmp_path, "create", "--bundle", b, cid)
    assert r.rc != 0 and "already exists" in r.err and len(r.err.splitlines()) == 1
    assert env.state(cid) == before
    assert env.pyrunc("start", cid).rc == 0
    assert env.state(cid)["status"] == "running"
    assert env.pyrunc("delete", "-f", cid).rc == 0


def test_failed_create_leaves_no_process(env, tmp_path):
    """The init dies with a failed create: no process of this test's cgroups remains, and
    none of the executor processes started for it."""
    b = env.bundle(["no-such-program"])
    r = env.pyrunc("create", "--bundle", b, env.new_id())
    assert r.rc != 0
    for p in (p for p in os.listdir("/proc") if p.isdigit()):
        try:
            cg = open(f"/proc/{p}/cgroup").read()
        except OSError:
            continue
        assert env.cgparent not in cg, (p, cg)


def test_cli_errors(env, tmp_path):
    for args, needle in [(["nosuchcmd"], "no such command"), (["--bogus", "list"], "not defined"),
                         (["create"], "missing container id"), (["create", "--bogus", "x"], "not defined"),
                         (["--rootless", "maybe", "list"], "rootless"),
                         (["--log-format", "xml", "list"], "log-format"),
                         (["list", "--format", "yaml"], "format"),
                         (["state", "a", "b"], "unexpected arguments")]:
        r = env.pyrunc(*args)
        assert r.rc != 0 and needle in r.err and len(r.err.splitlines()) == 1, (args, r)


def test_success_is_silent(env, tmp_path):
    log = tmp_path / "log"
    b = env.bundle(["true"])
    cid = env.new_id()
    for args in (["create", "--bundle", b, cid], ["start", cid], ["state", cid], ["delete", "-f", cid]):
        r = env.pyrunc("--log", str(log), "--log-format", "json", *args)
        assert r.rc == 0 and r.err == "", (args, r)
    assert not log.exists() or log.read_text() == ""


def test_spec_command(env, tmp_path):
    r = env.pyrunc("spec", "--bundle", str(tmp_path))
    assert r.rc == 0 and r.out == "" and r.err == ""
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["ociVersion"] == "1.3.0" and cfg["process"]["terminal"] is True
    r = env.pyrunc("spec", "--bundle", str(tmp_path))
    assert r.rc != 0 and "exists" in r.err
    (tmp_path / "r").mkdir()
    assert env.pyrunc("spec", "--rootless", "-b", str(tmp_path / "r")).rc == 0
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())
    assert {"type": "user"} in cfg["linux"]["namespaces"] and cfg["linux"]["uidMappings"][0]["size"] == 1


@pytest.mark.parametrize("args", [
    ["create", "--bundle", "/nonexistent", "x1"], ["start", "x1"], ["run", "--bundle", "/nonexistent", "x1"],
    ["state", "x1"], ["kill", "x1", "KILL"], ["delete", "x1"], ["exec", "x1", "true"],
    ["pause", "x1"], ["resume", "x1"], ["ps", "x1"], ["events", "--stats", "x1"],
    ["update", "--memory", "1M", "x1"], ["list", "--format", "yaml"], ["spec", "--bundle", "/nonexistent"],
], ids=lambda a: a[0])
def test_every_failing_command_logs_json(env, tmp_path, args):
    """conmon and the shim read the last error from the --log file: every command's failure
    is one stderr line and the same message as a JSON error line."""
    r, log = pyrunc_logged(env, tmp_path, *args)
    check_failed(env, r, log)


def test_debug_lines_go_to_the_log(env, tmp_path):
    b = env.bundle(["true"])
    cid = env.new_id()
    log = tmp_path / "debug.json"
    r = env.pyrunc("--debug", "--log", str(log), "--log-format", "json", "create", "--bundle", b, cid)
    assert r.rc == 0 and r.err == "", r
    entries = [json.loads(l) for l in log.read_text().splitlines()]
    assert entries and {e["level"] for e in entries} == {"debug"}
    assert any("plan:" in e["msg"] for e in entries)
    assert env.pyrunc("delete", "-f", cid).rc == 0


def test_unknown_capability_is_a_warning(env, tmp_path):
    """runtime-spec 1.3: unknown capabilities SHOULD NOT fail the container; runc warns and
    leaves them out.  With --log the warning goes there, not to stderr."""
    patch = lambda c: c["process"]["capabilities"]["bounding"].append("CAP_BOGUS")
    r = env.run(["true"], patch=patch)
    assert r.rc == 0 and r.err == "pyrunc: warning: ignoring unknown or unavailable capabilities: [CAP_BOGUS]\n", r
    log = tmp_path / "log.json"
    b = env.bundle(["true"], patch=patch)
    r = env.pyrunc("--log", str(log), "--log-format", "json", "run", "--bundle", b, env.new_id())
    assert r.rc == 0 and r.err == "", r
    entry = json.loads(log.read_text().splitlines()[-1])
    assert entry["level"] == "warning" and "CAP_BOGUS" in entry["msg"]


@pytest.mark.skipif(os.path.isdir("/run/systemd/system"), reason="systemd runs here")
@pytest.mark.parametrize("cgpath,needle", [
    ("system.slice:pyrunc:x", "systemd not running on this host, cannot use systemd cgroups manager"),
    ("/not/a/systemd/path", "expected cgroupsPath to be of format \"slice:prefix:name\""),
])
def test_systemd_cgroup_refused_clearly(env, tmp_path, cgpath, needle):
    """--systemd-cgroup where systemd does not run (runc's words), or with a cgroupfs path:
    one line, nothing made (no state, no cgroup, no process)."""
    b = env.bundle(["true"], patch=lambda c: c["linux"].update(cgroupsPath=cgpath))
    r, log = pyrunc_logged(env, tmp_path, "--systemd-cgroup", "run", "--bundle", b, env.new_id())
    check_failed(env, r, log, needle if "not running" in needle else "expected cgroupsPath")


def test_update_rdt_schema_without_a_group(env, tmp_path):
    """update --l3-cache-schema / --mem-bw-schema of a container without linux.intelRdt: an
    error, and the container's resources unchanged (checked before anything is written)."""
    cid = env.new_id()
    b = env.bundle(["sleep", "100"], patch=lambda c: c["linux"].update(resources={"pids": {"limit": 50}}))
    assert env.pyrunc("run", "-d", "--bundle", b, cid).rc == 0
    try:
        r = env.pyrunc("update", "--pids-limit", "60", "--l3-cache-schema", "L3:0=f", cid)
        assert r.rc == 1 and r.err.strip().endswith("has no Intel RDT group (linux.intelRdt was not set at create)"), r
        assert json.loads((tmp_path / "state" / cid / "state.json").read_text())["resources"]["pids"]["limit"] == 50
    finally:
        env.pyrunc("delete", "--force", cid)

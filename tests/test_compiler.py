"""The model and the compiler, without running anything: plans are compiled against a Host
with fixed answers, so these tests hold on any machine."""

import pytest

from pyrunc import config, state
from pyrunc import host as hierarchy  # Hierarchy, probe_cgroups, layout
from pyrunc import mountopts as mo
from pyrunc.cgroups.fs import paths_for
from pyrunc.commands.spec import default_spec
from pyrunc.compiler import NS_FLAGS, Inputs, compile_create, compile_exec
from pyrunc.errors import ConfigError, PyruncError
from pyrunc.host import Host
from pyrunc.ops.kill import parse_signal

HYBRID = [hierarchy.Hierarchy("memory", "/sys/fs/cgroup/memory", "/", 1, ["memory"]),
          hierarchy.Hierarchy("unified", "/sys/fs/cgroup/unified", "/", 2, [])]


def fake_host(**kw):
    kw.setdefault("cgroup_hierarchies", HYBRID)
    kw.setdefault("has_kcore", True)
    kw.setdefault("in_user_ns", False)
    kw.setdefault("apparmor_enabled", False)
    kw.setdefault("selinux_enabled", False)
    kw.setdefault("apparmor_attr", "exec")
    kw.setdefault("path_kinds", {})
    return Host(**kw)


def inputs(**kw):
    kw.setdefault("cgroup_join", [(1, "/sys/fs/cgroup/memory/x")])
    kw.setdefault("cgroup_mounts", {"memory": "/sys/fs/cgroup/memory/x"})
    return Inputs("c1", fifo_fd=9, **kw)


def spec_of(cfg, bundle="/bundle"):
    return config.build(cfg, bundle)


def compile_default(host=None, **kw):
    cfg = default_spec()
    cfg["process"]["terminal"] = False
    return compile_create(spec_of(cfg), host or fake_host(), inputs(**kw))


def test_plan_order():
    p = compile_default()
    names = p.names()
    # stage 1 joins the cgroups (host paths) and ends with the clone; the init waits for
    # start last, then execs
    assert names[:3] == ["CGROUP_JOIN", "CLONE", "WAIT_GO"]
    assert p.ops[0][1] == (1, "/sys/fs/cgroup/memory/x")
    assert names[-3:] == ["READY", "WAIT_START", "EXEC"]
    for before, after in [("ROOTFS", "MOUNT"), ("MOUNT", "MKNOD"), ("MKNOD", "MASK"), ("MASK", "ROOT_READONLY"),
                          ("READONLY", "ROOT_READONLY"), ("ROOT_READONLY", "PIVOT"), ("PIVOT", "HOSTNAME"),
                          ("CAPS", "USER"), ("CWD", "USER"), ("USER", "LOOKUP"), ("LOOKUP", "READY")]:
        assert names.index(before) < names.index(after), (before, after)


def test_ops_carry_their_config_field():
    p = compile_default()
    fields = {o.name: o.field for o in p.ops}
    assert fields["HOSTNAME"] == "hostname" and fields["USER"] == "process.user"
    mounts = [o.field for o in p.ops if o.name == "MOUNT"]
    assert mounts[0] == "mounts[0]"
    assert fields["EXEC"] == "process.args"


def test_clone_flags():
    p = compile_default()
    flags = int(dict(p.ops)["CLONE"][0])
    assert flags == sum(NS_FLAGS[t] for t in ("pid", "network", "ipc", "uts", "mount"))


def test_user_namespace_waits_for_maps():
    cfg = default_spec(rootless=True)
    cfg["process"]["terminal"] = False
    s = spec_of(cfg)
    names = compile_create(s, fake_host(), inputs()).names()
    assert names.index("CLONE") < names.index("WAIT_GO") < names.index("SETSID")
    assert dict(compile_create(s, fake_host(), inputs()).ops)["WAIT_GO"] == (1,)
    assert "MKNOD" not in names and "BINDDEV" in names  # no mknod in a user namespace


def test_join_order():
    cfg = default_spec()
    cfg["linux"]["namespaces"] = [{"type": "mount", "path": "/m"}, {"type": "network", "path": "/n"},
                                  {"type": "user", "path": "/u"}, {"type": "pid"}]
    cfg.pop("hostname")
    p = compile_create(spec_of(cfg), fake_host(), inputs())
    joins = [a[0] for op, a in p.ops if op == "SETNS"]
    assert joins == ["/u", "/n", "/m"]


def test_mount_options():
    p = mo.parse(["rbind", "ro", "nosuid", "rshared", "rnoexec", "mode=755", "size=1m"], "m")
    assert p.flags & mo.MS_BIND and p.flags & mo.MS_REC and p.flags & mo.MS_RDONLY
    assert p.prop == mo.MS_SHARED | mo.MS_REC and p.rset == mo.A_NOEXEC
    assert p.data == "mode=755,size=1m"
    aset, aclr = mo.bind_attrs(mo.parse(["bind", "rw", "nodev", "noatime"], "m"))
    assert aset == mo.A_NODEV | mo.A_NOATIME and aclr == mo.A_RDONLY | mo.A_ATIME_MASK
    assert mo.parse(["rbind", "idmap"], "m").idmap == 1 and mo.parse(["ridmap", "idmap"], "m").idmap == 2
    assert mo.parse(["tmpcopyup"], "m").copyup
    with pytest.raises(PyruncError, match="remount"):
        mo.parse(["remount"], "m")


def test_sysctl_rules():
    cfg = default_spec()
    for key in ("net.ipv4.ip_forward", "kernel.shmmax", "fs.mqueue.queues_max", "kernel.domainname"):
        cfg["linux"]["sysctl"] = {key: "1"}
        spec_of(cfg)
    for key in ("kernel.panic", "vm.swappiness", "kernel.hostname"):
        cfg["linux"]["sysctl"] = {key: "1"}
        with pytest.raises(PyruncError):
            spec_of(cfg)
    cfg["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    cfg["linux"]["namespaces"] = [{"type": "mount"}, {"type": "uts"}]
    with pytest.raises(PyruncError, match="network namespace"):
        spec_of(cfg)
    assert config.sysctl_path("net.ipv4.conf.all.forwarding") == "sys/net/ipv4/conf/all/forwarding"
    assert config.sysctl_path("net/ipv4/conf/eth0.100/forwarding") == "sys/net/ipv4/conf/eth0.100/forwarding"


def test_config_errors_name_source_and_field():
    cfg = default_spec()
    cfg["linux"]["namespaces"].append({"type": "pid"})
    with pytest.raises(ConfigError) as e:
        spec_of(cfg)
    assert e.value.field == "linux.namespaces[5]" and e.value.source == "config.json"
    assert str(e.value) == "config.json: linux.namespaces[5]: duplicate namespace 'pid'"


def test_clean_paths():
    assert config.clean("proc") == "/proc"
    assert config.clean("//a/../../b/./c/") == "/b/c"


def test_ids():
    for good in ("a", "A-b_c.d+e", "x" * 255):
        state.check_id(good)
    for bad in ("", ".", "..", "../x", "a/b", "x" * 256, "a b", "a\nb", "é"):
        with pytest.raises(PyruncError):
            state.check_id(bad)


def test_signals():
    import signal
    assert parse_signal("KILL") == signal.SIGKILL
    assert parse_signal("sigterm") == signal.SIGTERM
    assert parse_signal("9") == 9
    assert parse_signal(None) == signal.SIGTERM
    assert parse_signal("RTMIN+2") == signal.SIGRTMIN + 2
    assert parse_signal("0") == 0  # kill --all ID 0, as runc
    for bad in ("99", "NOPE", "SIG_DFL", "RTMIN+99", "-1"):
        with pytest.raises(PyruncError):
            parse_signal(bad)


MOUNTINFO = """\
25 1 0:22 / / rw - ext4 /dev/vda rw
30 25 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw
31 30 0:27 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
32 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
33 30 0:29 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
34 30 0:30 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
"""


def test_cgroup_paths(tmp_path):
    mi = tmp_path / "mountinfo"
    mi.write_text(MOUNTINFO)
    hs = hierarchy.probe_cgroups(str(mi))
    assert [h.key for h in hs] == ["memory", "cpu", "systemd", "unified"]
    assert hierarchy.layout(hs) == "hybrid"
    own = {"memory": "/sup/me", "cpu": "/", "cpuacct": "/", "systemd": "/", "": "/"}
    p = paths_for("/a/b", "id", hs, own)
    assert p["memory"] == "/sys/fs/cgroup/memory/a/b" and p["cpu"] == "/sys/fs/cgroup/cpu,cpuacct/a/b"
    p = paths_for("rel", "id", hs, own)
    assert p["memory"] == "/sys/fs/cgroup/memory/sup/me/rel" and p["unified"] == "/sys/fs/cgroup/unified/rel"
    p = paths_for(None, "id", hs, own)
    assert p["memory"] == "/sys/fs/cgroup/memory/sup/me/id"


def test_lsm_profile_and_labels_where_enabled(monkeypatch):
    """This host has neither AppArmor nor SELinux: the integration tests check the errors;
    here the detection is forced on and the plan is checked: the profile/label is written
    for the next execve before the seccomp filter, both before READY, so the startContainer
    hooks run under them as under runc, and the mount label becomes a context= option of
    each mount pyrunc makes (not binds)."""
    from pyrunc import lsm
    monkeypatch.setattr(lsm, "apparmor_enabled", lambda: True)
    monkeypatch.setattr(lsm, "selinux_enabled", lambda: True)
    cfg = default_spec()
    cfg["process"].update(terminal=False, apparmorProfile="pyrunc-test", selinuxLabel="system_u:system_r:c_t:s0")
    cfg["linux"]["mountLabel"] = "system_u:object_r:c_file_t:s0"
    cfg["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW"}
    cfg["hooks"] = {"startContainer": [{"path": "/bin/true"}]}
    s = spec_of(cfg)
    p = compile_create(s, fake_host(apparmor_enabled=True, selinux_enabled=True), inputs(mount_label=s.mount_label))
    names = p.names()
    writes = [a for n, a in p.ops if n == "PROC_WRITE" and "attr" in a[0]]
    assert [w[0].startswith("thread-self/attr/") for w in writes] == [True, True]
    assert writes[0][1] == "exec pyrunc-test" and writes[1][1] == "system_u:system_r:c_t:s0"
    first = next(i for i, (n, a) in enumerate(p.ops) if n == "PROC_WRITE" and "attr" in a[0])
    assert first < names.index("SECCOMP") < names.index("READY") < names.index("HOOK") < names.index("EXEC")
    mounts = [a for n, a in p.ops if n == "MOUNT"]
    proc = next(a for a in mounts if a[3] == "proc")
    assert 'context="system_u:object_r:c_file_t:s0"' in proc[5]
    tmpfs_dev = next(a for a in mounts if a[2] == "/dev")
    assert tmpfs_dev[5].endswith(',context="system_u:object_r:c_file_t:s0"')


def test_lsm_refused_where_not_enabled(monkeypatch, capsys):
    from pyrunc import lsm
    monkeypatch.setattr(lsm, "apparmor_enabled", lambda: False)
    monkeypatch.setattr(lsm, "selinux_enabled", lambda: False)
    for key, value, needle in [("apparmorProfile", "prof", "AppArmor is not enabled"),
                               ("selinuxLabel", "lab", "SELinux is not enabled")]:
        cfg = default_spec()
        cfg["process"][key] = value
        with pytest.raises(PyruncError, match=f"process.{key} '{value}': {needle}"):
            spec_of(cfg)
    # a mount label alone confines nothing: ignored with a warning, as crun does
    cfg = default_spec()
    cfg["linux"]["mountLabel"] = "lab"
    s = spec_of(cfg)
    label = lsm.check_mount_label(s.mount_label)
    mounts = [a for n, a in compile_create(s, fake_host(), inputs(mount_label=label)).ops if n == "MOUNT"]
    assert mounts and not any("context=" in a[5] for a in mounts)
    assert "linux.mountLabel 'lab' ignored: SELinux is not enabled" in capsys.readouterr().err


def test_cgroup_join_v1_and_v2():
    """v1 hierarchies are joined by the executor itself, v2 at the clone (CLONE_INTO_CGROUP);
    no cgroups (rootless without a writable one), no op."""
    p = compile_default(cgroup_join=[(1, "/sys/fs/cgroup/pids/c"), (2, "/sys/fs/cgroup/unified/c")])
    assert [tuple(o) for o in p.ops[:2]] == [("CGROUP_JOIN", (1, "/sys/fs/cgroup/pids/c")),
                                             ("CGROUP_JOIN", (2, "/sys/fs/cgroup/unified/c"))]
    p = compile_default(cgroup_join=[])
    assert "CGROUP_JOIN" not in p.names()


def test_compiler_reads_the_host_only_through_host():
    """The same model gives different plans on different (fake) hosts, and compiling touches
    nothing: the bind source is judged by the host's answer, not by the disk."""
    cfg = default_spec()
    cfg["process"]["terminal"] = False
    cfg["mounts"].append({"destination": "/data", "type": "bind", "source": "/no/such/source/on/this/disk",
                          "options": ["rbind"]})
    s = spec_of(cfg)
    host = fake_host(has_kcore=False, path_kinds={"/no/such/source/on/this/disk": "f"})
    p = compile_create(s, host, inputs())
    bind = next(a for n, a in p.ops if n == "MOUNT" and a[2] == "/data")
    assert bind[6] == "f"
    assert not any(n == "SYMLINK" and a[1] == "/dev/core" for n, a in p.ops)
    p = compile_create(s, fake_host(path_kinds={"/no/such/source/on/this/disk": "d"}), inputs())
    assert next(a for n, a in p.ops if n == "MOUNT" and a[2] == "/data")[6] == "d"
    assert any(n == "SYMLINK" and a[1] == "/dev/core" for n, a in p.ops)
    v2 = fake_host(cgroup_hierarchies=[hierarchy.Hierarchy("unified", "/sys/fs/cgroup", "/", 2, ["memory"])],
                   path_kinds={"/no/such/source/on/this/disk": "d"})
    p = compile_create(s, v2, inputs(cgroup_mounts={"unified": "/sys/fs/cgroup/x"}))
    cg = next(a for n, a in p.ops if n == "MOUNT" and a[2] == "/sys/fs/cgroup")
    assert cg[0] == "/sys/fs/cgroup/x"  # pure v2: the container's own cgroup, bound


def test_exec_plan():
    proc = config.check_process({"args": ["sh"], "cwd": "/", "user": {"uid": 5, "gid": 6},
                                 "terminal": True, "env": ["PATH=/bin"]})
    p = compile_exec(proc, fake_host(), Inputs("c1", console_fd=7, cgroup_join=[(1, "/cg")]),
                     {"mount": 11, "pid": 12}, False)
    names = p.names()
    assert names[:4] == ["CGROUP_JOIN", "SETNS_FD", "SETNS_FD", "CLONE"]
    assert dict(p.ops)["CONSOLE"] == ("", 7, 0, 0, 1)
    assert dict(p.ops)["USER"] == (5, 6, "", 0)
    assert names[-1] == "EXEC"


def test_io_priority_and_scheduler_before_the_credentials():
    cfg = default_spec()
    cfg["process"]["terminal"] = False
    cfg["process"]["ioPriority"] = {"class": "IOPRIO_CLASS_BE", "priority": 4}
    cfg["process"]["scheduler"] = {"policy": "SCHED_FIFO", "priority": 9, "nice": -3,
                                   "flags": ["SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_KEEP_PARAMS"]}
    p = compile_create(spec_of(cfg), fake_host(), inputs())
    ops = dict(p.ops)
    assert ops["IOPRIO"] == (2 << 13 | 4,)
    assert ops["SCHED"] == (1, 0x11, -3, 9, 0, 0, 0)
    names = p.names()
    assert names.index("IOPRIO") < names.index("USER") and names.index("SCHED") < names.index("USER")
    assert [o.field for o in p.ops if o.name in ("IOPRIO", "SCHED")] == ["process.ioPriority", "process.scheduler"]


def test_exec_cpu_affinity_and_memory_policy():
    proc = default_spec()["process"]
    proc.update(terminal=False, execCPUAffinity={"initial": "0-2,5", "final": "1"})
    p = compile_exec(config.check_process(proc), None, inputs(memory_policy=(2 | 1 << 15, [0, 1])), {}, False)
    names = p.names()
    assert p.ops[0] == ("AFFINITY", ("0,1,2,5",))  # the executor's, before the cgroup join
    assert names[1] == "CGROUP_JOIN"
    assert ("AFFINITY", ("1",)) in p.ops and names.index("USER") < names.index("AFFINITY", 1) < names.index("EXEC")
    assert ("MEMPOLICY", (2 | 1 << 15, "0,1")) in p.ops
    # the container's own process: no affinity (the spec: exec only)
    cfg = default_spec()
    cfg["process"].update(terminal=False, execCPUAffinity={"final": "1"})
    assert "AFFINITY" not in compile_create(spec_of(cfg), fake_host(), inputs()).names()

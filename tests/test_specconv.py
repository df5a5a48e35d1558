"""Config checks and plan compilation, without running anything."""

import pytest

from pyrunc import cgroups, lifecycle, mountopts as mo, specconv, state
from pyrunc.commands.spec import default_spec
from pyrunc.errors import PyruncError


def opts(**kw):
    kw.setdefault("cgroup_paths", {"memory": "/sys/fs/cgroup/memory/x"})
    return specconv.Options("/bundle", fifo=9, cid="c1", **kw)


def compile_default(**kw):
    cfg = default_spec()
    cfg["process"]["terminal"] = False
    specconv.check(cfg)
    return specconv.compile_plan(cfg, opts(**kw))


def test_plan_order():
    p = compile_default()
    names = p.names()
    # stage 1 joins the cgroups (host paths) and ends with the clone; the init waits for
    # start last, then execs
    assert names[:3] == ["CGROUP_JOIN", "CLONE", "WAIT_GO"]
    assert p.ops[0][1] == ("v1:/sys/fs/cgroup/memory/x",)
    assert names[-3:] == ["READY", "WAIT_START", "EXEC"]
    for before, after in [("ROOTFS", "MOUNT"), ("MOUNT", "MKNOD"), ("MKNOD", "MASK"), ("MASK", "ROOT_READONLY"),
                          ("READONLY", "ROOT_READONLY"), ("ROOT_READONLY", "PIVOT"), ("PIVOT", "HOSTNAME"),
                          ("CAPS", "USER"), ("USER", "CWD"), ("CWD", "LOOKUP"), ("LOOKUP", "READY")]:
        assert names.index(before) < names.index(after), (before, after)


def test_clone_flags():
    p = compile_default()
    flags = int(dict(p.ops)["CLONE"][0])
    assert flags == sum(specconv.NS_FLAGS[t] for t in ("pid", "network", "ipc", "uts", "mount"))


def test_user_namespace_waits_for_maps():
    cfg = default_spec(rootless=True)
    cfg["process"]["terminal"] = False
    specconv.check(cfg)
    names = specconv.compile_plan(cfg, opts()).names()
    assert names.index("CLONE") < names.index("WAIT_GO") < names.index("SETSID")
    assert dict(specconv.compile_plan(cfg, opts()).ops)["WAIT_GO"] == (1,)
    assert "MKNOD" not in names and "BINDDEV" in names  # no mknod in a user namespace


def test_join_order():
    cfg = default_spec()
    cfg["linux"]["namespaces"] = [{"type": "mount", "path": "/m"}, {"type": "network", "path": "/n"},
                                  {"type": "user", "path": "/u"}, {"type": "pid"}]
    cfg.pop("hostname")
    p = specconv.compile_plan(cfg, opts())
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
    with pytest.raises(PyruncError, match="tmpcopyup"):
        mo.parse(["tmpcopyup"], "m")


def test_sysctl_rules():
    cfg = default_spec()
    for key in ("net.ipv4.ip_forward", "kernel.shmmax", "fs.mqueue.queues_max", "kernel.domainname"):
        cfg["linux"]["sysctl"] = {key: "1"}
        specconv.check(cfg)
    for key in ("kernel.panic", "vm.swappiness", "kernel.hostname"):
        cfg["linux"]["sysctl"] = {key: "1"}
        with pytest.raises(PyruncError):
            specconv.check(cfg)
    cfg["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    cfg["linux"]["namespaces"] = [{"type": "mount"}, {"type": "uts"}]
    with pytest.raises(PyruncError, match="network namespace"):
        specconv.check(cfg)
    assert specconv.sysctl_path("net.ipv4.conf.all.forwarding") == "sys/net/ipv4/conf/all/forwarding"
    assert specconv.sysctl_path("net/ipv4/conf/eth0.100/forwarding") == "sys/net/ipv4/conf/eth0.100/forwarding"


def test_clean_paths():
    assert specconv.clean("proc") == "/proc"
    assert specconv.clean("//a/../../b/./c/") == "/b/c"


def test_ids():
    for good in ("a", "A-b_c.d+e", "x" * 255):
        state.check_id(good)
    for bad in ("", ".", "..", "../x", "a/b", "x" * 256, "a b", "a\nb", "é"):
        with pytest.raises(PyruncError):
            state.check_id(bad)


def test_signals():
    import signal
    assert lifecycle.parse_signal("KILL") == signal.SIGKILL
    assert lifecycle.parse_signal("sigterm") == signal.SIGTERM
    assert lifecycle.parse_signal("9") == 9
    assert lifecycle.parse_signal(None) == signal.SIGTERM
    assert lifecycle.parse_signal("RTMIN+2") == signal.SIGRTMIN + 2
    for bad in ("0", "99", "NOPE", "SIG_DFL", "RTMIN+99"):
        with pytest.raises(PyruncError):
            lifecycle.parse_signal(bad)


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
    hs = cgroups.probe(str(mi))
    assert [h.key for h in hs] == ["memory", "cpu", "systemd", "unified"]
    assert cgroups.layout(hs) == "hybrid"
    own = {"memory": "/sup/me", "cpu": "/", "cpuacct": "/", "systemd": "/", "": "/"}
    p = cgroups.paths_for("/a/b", "id", hs, own)
    assert p["memory"] == "/sys/fs/cgroup/memory/a/b" and p["cpu"] == "/sys/fs/cgroup/cpu,cpuacct/a/b"
    p = cgroups.paths_for("rel", "id", hs, own)
    assert p["memory"] == "/sys/fs/cgroup/memory/sup/me/rel" and p["unified"] == "/sys/fs/cgroup/unified/rel"
    p = cgroups.paths_for(None, "id", hs, own)
    assert p["memory"] == "/sys/fs/cgroup/memory/sup/me/id"




def test_lsm_profile_and_labels_where_enabled(monkeypatch):
    """This host has neither AppArmor nor SELinux: the integration tests check the errors;
    here the detection is forced on and the plan is checked: the profile/label is written
    for the next execve after the startContainer hooks and before the seccomp filter, and
    the mount label becomes a context= option of each mount pyrunc makes (not binds)."""
    from pyrunc import lsm
    monkeypatch.setattr(lsm, "apparmor_enabled", lambda: True)
    monkeypatch.setattr(lsm, "selinux_enabled", lambda: True)
    cfg = default_spec()
    cfg["process"].update(terminal=False, apparmorProfile="pyrunc-test", selinuxLabel="system_u:system_r:c_t:s0")
    cfg["linux"]["mountLabel"] = "system_u:object_r:c_file_t:s0"
    cfg["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW"}
    cfg["hooks"] = {"startContainer": [{"path": "/bin/true"}]}
    specconv.check(cfg)
    p = specconv.compile_plan(cfg, opts())
    names = p.names()
    writes = [a for n, a in p.ops if n == "PROC_WRITE" and "attr" in a[0]]
    assert [w[0].startswith("thread-self/attr/") for w in writes] == [True, True]
    assert writes[0][1] == "exec pyrunc-test" and writes[1][1] == "system_u:system_r:c_t:s0"
    first = next(i for i, (n, a) in enumerate(p.ops) if n == "PROC_WRITE" and "attr" in a[0])
    assert names.index("HOOK") < first < names.index("SECCOMP") < names.index("EXEC")
    mounts = [a for n, a in p.ops if n == "MOUNT"]
    proc = next(a for a in mounts if a[2] == "proc")
    assert 'context="system_u:object_r:c_file_t:s0"' in proc[4]
    tmpfs_dev = next(a for a in mounts if a[1] == "/dev")
    assert tmpfs_dev[4].endswith(',context="system_u:object_r:c_file_t:s0"')


def test_lsm_refused_where_not_enabled(monkeypatch, capsys):
    from pyrunc import lsm
    monkeypatch.setattr(lsm, "apparmor_enabled", lambda: False)
    monkeypatch.setattr(lsm, "selinux_enabled", lambda: False)
    for key, value, needle in [("apparmorProfile", "prof", "AppArmor is not enabled"),
                               ("selinuxLabel", "lab", "SELinux is not enabled")]:
        cfg = default_spec()
        cfg["process"][key] = value
        with pytest.raises(PyruncError, match=f"process.{key} '{value}': {needle}"):
            specconv.check(cfg)
    # a mount label alone confines nothing: ignored with a warning, as crun does
    cfg = default_spec()
    cfg["linux"]["mountLabel"] = "lab"
    specconv.check(cfg)
    mounts = [a for n, a in specconv.compile_plan(cfg, opts()).ops if n == "MOUNT"]
    assert mounts and not any("context=" in a[4] for a in mounts)
    assert "linux.mountLabel 'lab' ignored: SELinux is not enabled" in capsys.readouterr().err


def test_cgroup_join_v1_and_v2():
    """v1 hierarchies are joined by the executor itself, v2 at the clone (CLONE_INTO_CGROUP);
    no cgroups (rootless without a writable one), no op."""
    p = compile_default(cgroup_paths={"pids": "/sys/fs/cgroup/pids/c", "unified": "/sys/fs/cgroup/unified/c"})
    assert p.ops[0] == ("CGROUP_JOIN", ("v1:/sys/fs/cgroup/pids/c", "v2:/sys/fs/cgroup/unified/c"))
    p = compile_default(cgroup_paths={})
    assert "CGROUP_JOIN" not in p.names()

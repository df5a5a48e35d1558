"""Container construction: each feature checked from inside a real container."""

import os
import subprocess
import time

import pytest

V1_HOST = pytest.mark.skipif(os.path.exists("/sys/fs/cgroup/cgroup.controllers"),
                             reason="reads v1 cgroup files (the v2 equivalents: test_resources.py)")


NS_FILES = {"pid": "pid", "network": "net", "ipc": "ipc", "uts": "uts", "mount": "mnt",
            "cgroup": "cgroup", "user": "user", "time": "time"}


def ns_patch(types, extra=None):
    def patch(c):
        c["linux"]["namespaces"] = [{"type": t} for t in types]
        if extra:
            extra(c)
    return patch


def userns(c):
    c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    c["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    c["linux"].pop("resources", None)


def test_pid1_and_hostname(env):
    r = env.sh("echo $$; hostname; cat /proc/sys/kernel/domainname",
               patch=lambda c: c.update(hostname="box", domainname="example.org"))
    assert r.rc == 0 and r.out.split() == ["1", "box", "example.org"], r


@pytest.mark.parametrize("types", [
    ["pid", "network", "ipc", "uts", "mount", "cgroup", "time"],
    ["mount"],
    ["pid", "network", "ipc", "uts", "mount", "cgroup", "time", "user"],
])
def test_new_namespaces(env, types):
    script = "for n in pid net ipc uts mnt cgroup user time; do echo $n $(readlink /proc/self/ns/$n); done"
    def extra(c):
        if "uts" not in types:
            c.pop("hostname", None)
        if "user" in types:
            userns(c)
    r = env.sh(script, patch=ns_patch(types, extra))
    assert r.rc == 0, r
    inside = dict(l.split() for l in r.out.splitlines())
    for t, f in NS_FILES.items():
        host = os.readlink(f"/proc/self/ns/{f}")
        assert (inside[f] != host) == (t in types), (t, inside[f], host)


def test_join_namespaces_by_path(env):
    """A holder process in new net/uts/ipc namespaces; the container joins them by path."""
    holder = subprocess.Popen(["unshare", "--net", "--uts", "--ipc", "sh", "-c",
                               "hostname holder; echo ok; sleep 100"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ok"
        pid = holder.pid
        # unshare execs sh in place, so pid is the holder process itself
        def patch(c):
            c["linux"]["namespaces"] = [{"type": "pid"}, {"type": "mount"},
                                        {"type": "network", "path": f"/proc/{pid}/ns/net"},
                                        {"type": "uts", "path": f"/proc/{pid}/ns/uts"},
                                        {"type": "ipc", "path": f"/proc/{pid}/ns/ipc"}]
            c.pop("hostname", None)
        r = env.sh("hostname; readlink /proc/self/ns/net", patch=patch)
        assert r.rc == 0, r
        name, net = r.out.split()
        assert name == "holder" and net == os.readlink(f"/proc/{pid}/ns/net")
    finally:
        holder.kill()
        holder.wait()


def test_user_namespace_mappings(env):
    # (sysfs can only be mounted by the owner of a network namespace: give it one)
    r = env.sh("id -u; cat /proc/self/uid_map /proc/self/gid_map; stat -c %u /bin/busybox",
               patch=ns_patch(["pid", "ipc", "uts", "mount", "user", "network"], userns))
    assert r.rc == 0, r
    lines = r.out.split("\n")
    assert lines[0] == "0"
    assert lines[1].split() == ["0", "100000", "65536"] and lines[2].split() == ["0", "100000", "65536"]
    assert lines[3] == "65534"  # host root's file shows as the overflow uid
    # devices in a user namespace are bind-mounted from the host, and work
    r = env.sh("echo x > /dev/null && head -c 3 /dev/zero | wc -c",
               patch=ns_patch(["pid", "ipc", "uts", "mount", "user", "network"], userns))
    assert r.rc == 0 and r.out.strip() == "3", r


def test_rootless_spec_runs_as_root(env):
    """`pyrunc spec --rootless` output (user namespace, 1:1 map, /sys rbind) runs as root."""
    from pyrunc.commands.spec import default_spec
    cfg = default_spec(rootless=True)
    cfg["process"]["terminal"] = False
    b = env.bundle(["sh", "-c", "id -u; cat /proc/self/uid_map"], cfg=cfg)
    r = env.run(bundle=b)
    assert r.rc == 0 and r.out.split() == ["0", "0", "0", "1"], r


def test_time_namespace_offsets(env):
    def patch(c):
        c["linux"]["namespaces"].append({"type": "time"})
        c["linux"]["timeOffsets"] = {"boottime": {"secs": 86400 * 365, "nanosecs": 0},
                                     "monotonic": {"secs": 1000, "nanosecs": 5}}
    r = env.sh("cat /proc/self/timens_offsets; cut -d. -f1 /proc/uptime", patch=patch)
    assert r.rc == 0, r
    lines = r.out.splitlines()
    assert lines[0].split() == ["monotonic", "1000", "5"]
    assert lines[1].split() == ["boottime", str(86400 * 365), "0"]
    host_up = float(open("/proc/uptime").read().split()[0])
    assert int(lines[2]) >= 86400 * 365 + host_up - 5


@V1_HOST
def test_cgroup_namespace_and_placement(env):
    b = env.bundle(["sh", "-c", "cat /proc/self/cgroup; ls /sys/fs/cgroup/memory/cgroup.procs"],
                   patch=lambda c: c["linux"]["namespaces"].append({"type": "cgroup"}))
    r = env.run(bundle=b)
    assert r.rc == 0, r
    for line in r.out.splitlines()[:-1]:
        assert line.endswith(":/"), line  # the container's cgroup is its root
    # without a cgroup namespace: the full path, in every hierarchy of this host
    r = env.sh("cat /proc/self/cgroup")
    assert r.rc == 0
    lines = r.out.splitlines()
    assert all(env.cgparent in l for l in lines), lines
    hierarchies = [l.split(":")[1] for l in lines]
    assert "memory" in hierarchies and "" in hierarchies  # v1 and the unified mount


@V1_HOST
def test_cgroup_placement_on_host(env):
    b = env.bundle(["sleep", "100"])
    cid = env.new_id()
    assert env.pyrunc("run", "-d", "--bundle", b, cid).rc == 0
    pid = env.state(cid)["pid"]
    n = b.rsplit("bundle", 1)[1]
    for h in os.listdir("/sys/fs/cgroup"):
        procs = open(f"/sys/fs/cgroup/{h}{env.cgparent}/{n}/cgroup.procs").read().split()
        assert str(pid) in procs, h
    assert env.pyrunc("delete", "-f", cid).rc == 0
    for h in os.listdir("/sys/fs/cgroup"):
        assert not os.path.exists(f"/sys/fs/cgroup/{h}{env.cgparent}/{n}")


def test_readonly_root(env):
    r = env.sh("touch /x 2>&1; echo rc=$?")
    assert "Read-only file system" in r.out and "rc=1" in r.out, r
    b = env.bundle(["sh", "-c", "touch /x && echo ok"], own_rootfs=True,
                   patch=lambda c: c["root"].update(readonly=False))
    r = env.run(bundle=b)
    assert r.rc == 0 and r.out.strip() == "ok", r
    assert os.path.exists(os.path.join(b, "rootfs", "x"))


def test_bind_mounts(env, tmp_path):
    d = tmp_path / "hostdir"
    d.mkdir()
    (d / "f").write_text("dir-content")
    f = tmp_path / "hostfile"
    f.write_text("file-content")

    def patch(c):
        c["mounts"] += [
            {"destination": "/mnt/dir", "type": "bind", "source": str(d), "options": ["rbind", "ro"]},
            {"destination": "/mnt/rw", "type": "none", "source": str(d),
             "options": ["bind", "rw", "nosuid", "nodev", "noexec"]},
            {"destination": "/etc/hostfile", "type": "none", "source": str(f), "options": ["bind"]},
        ]
    r = env.sh("cat /mnt/dir/f /etc/hostfile; echo; touch /mnt/dir/x 2>&1; touch /mnt/rw/y && echo wrote;"
               " grep -E ' /mnt/(dir|rw) ' /proc/self/mountinfo", patch=patch)
    assert r.rc == 0, r
    assert r.out.startswith("dir-contentfile-content\n")
    assert "Read-only" in r.out and "wrote" in r.out
    assert (d / "y").exists()
    lines = [l.split() for l in r.out.splitlines() if l.count(" ") > 5]
    opts = {l[4]: l[5].split(",") for l in lines}
    assert "ro" in opts["/mnt/dir"]
    assert {"rw", "nosuid", "nodev", "noexec"} <= set(opts["/mnt/rw"])


def test_tmpfs_and_filesystems(env):
    def patch(c):
        c["mounts"].append({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
                            "options": ["nosuid", "noexec", "size=1m", "mode=700"]})
    r = env.sh("grep -E ' /(scratch|proc|sys|dev/pts|dev/mqueue|dev/shm) ' /proc/self/mountinfo; stat -c %a /scratch",
               patch=patch)
    assert r.rc == 0, r
    lines = r.out.splitlines()
    assert lines[-1] == "700"
    mounts = {l.split()[4]: l for l in lines[:-1]}
    assert "size=1024k" in mounts["/scratch"] and "nosuid" in mounts["/scratch"]
    assert " - proc " in mounts["/proc"] and " - sysfs " in mounts["/sys"]
    assert " - devpts " in mounts["/dev/pts"] and " - mqueue " in mounts["/dev/mqueue"]


def test_overlay_mount(env, tmp_path):
    for n in ("lower", "upper", "work"):
        (tmp_path / n).mkdir()
    (tmp_path / "lower" / "l").write_text("low")

    def patch(c):
        c["mounts"].append({"destination": "/ov", "type": "overlay", "source": "overlay", "options": [
            f"lowerdir={tmp_path}/lower", f"upperdir={tmp_path}/upper", f"workdir={tmp_path}/work"]})
    r = env.sh("cat /ov/l; echo new > /ov/n", patch=patch)
    assert r.rc == 0 and r.out == "low", r
    assert (tmp_path / "upper" / "n").read_text() == "new\n"


def test_mount_propagation(env):
    def patch(c):
        c["mounts"].append({"destination": "/sh", "type": "tmpfs", "source": "tmpfs", "options": ["rshared"]})
        c["mounts"].append({"destination": "/pr", "type": "tmpfs", "source": "tmpfs", "options": ["private"]})
        c["mounts"].append({"destination": "/ub", "type": "tmpfs", "source": "tmpfs", "options": ["unbindable"]})
    r = env.sh("grep -E ' /(sh|pr|ub) ' /proc/self/mountinfo", patch=patch)
    assert r.rc == 0, r
    m = {l.split()[4]: l.split(" - ")[0].split()[6:] for l in r.out.splitlines()}
    assert any(t.startswith("shared:") for t in m["/sh"]), m
    assert m["/pr"] == [], m
    assert "unbindable" in m["/ub"], m


def test_rootfs_propagation(env):
    r = env.sh("awk '$5 == \"/\"' /proc/self/mountinfo",
               patch=lambda c: c["linux"].update(rootfsPropagation="rshared"))
    assert r.rc == 0 and "shared:" in r.out, r
    r = env.sh("awk '$5 == \"/\"' /proc/self/mountinfo",
               patch=lambda c: c["linux"].update(rootfsPropagation="private"))
    assert r.rc == 0 and "shared:" not in r.out and "master:" not in r.out, r


def test_symlink_destination_stays_inside(env, tmp_path):
    """CVE-2021-30465 class: a destination that is a symlink out of the rootfs."""
    outside = tmp_path / "outside"
    outside.mkdir()
    src = tmp_path / "src"
    src.mkdir()
    (src / "marker").write_text("m")

    def patch(c):
        c["mounts"].append({"destination": "/evil/sub", "type": "bind", "source": str(src), "options": ["bind"]})
        c["mounts"].append({"destination": "/abs", "type": "tmpfs", "source": "tmpfs"})
    b = env.bundle(["sh", "-c", "cat /evil/sub/marker"], own_rootfs=True, patch=patch)
    os.symlink(str(outside), os.path.join(b, "rootfs", "evil"))          # absolute, out of the rootfs
    os.symlink("../../../../../../../..", os.path.join(b, "rootfs", "abs"))  # relative, climbing out
    r = env.run(bundle=b)
    assert r.rc == 0 and r.out == "m", r
    assert os.listdir(outside) == []  # nothing created or mounted on the host
    assert os.path.isdir(os.path.join(b, "rootfs", str(outside).lstrip("/"), "sub"))


def test_default_devices_and_links(env):
    r = env.sh("stat -c '%n %F %t:%T %a' /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty;"
               " for l in ptmx fd stdin stdout stderr; do readlink /dev/$l; done")
    assert r.rc == 0, r
    lines = r.out.splitlines()
    want = {"/dev/null": "1:3", "/dev/zero": "1:5", "/dev/full": "1:7", "/dev/random": "1:8",
            "/dev/urandom": "1:9", "/dev/tty": "5:0"}
    for line in lines[:6]:
        name, nums, mode = line.replace("character special file", "").split()
        assert want[name] == ":".join(str(int(x, 16)) for x in nums.split(":")) and mode == "666", line
    assert lines[6:] == ["pts/ptmx", "/proc/self/fd", "/proc/self/fd/0", "/proc/self/fd/1", "/proc/self/fd/2"]


def test_linux_devices(env):
    def patch(c):
        c["linux"]["devices"] = [{"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3,
                                  "fileMode": 0o600, "uid": 1000, "gid": 1001},
                                 {"path": "/dev/sub/fifo", "type": "p", "fileMode": 0o644}]
    r = env.sh("stat -c '%F %t:%T %a %u %g' /dev/mynull; stat -c '%F %a' /dev/sub/fifo", patch=patch)
    assert r.rc == 0, r
    lines = r.out.splitlines()
    assert lines[0] == "character special file 1:3 600 1000 1001"
    assert lines[1] == "fifo 644"


def test_device_cgroup_denies(env):
    """runc's spec denies all devices but the defaults: a new node cannot be opened."""
    r = env.sh("mknod /dev/sda1 b 8 1 2>&1; echo rc=$?; cat /dev/sda1 2>&1; echo rc=$?",
               patch=lambda c: c["process"]["capabilities"].update(
                   bounding=["CAP_MKNOD"], effective=["CAP_MKNOD"], permitted=["CAP_MKNOD"]))
    assert r.rc == 0, r
    assert "Operation not permitted" in r.out, r


def test_masked_and_readonly_paths(env):
    # (this kernel has no /proc/kcore: /proc/timer_list is masked too)
    r = env.sh("wc -c < /proc/timer_list; ls /sys/firmware | wc -l; "
               "echo 1 > /proc/sys/kernel/ns_last_pid 2>&1; echo rc=$?")
    assert r.rc == 0, r
    lines = r.out.splitlines()
    assert lines[0] == "0" and lines[1] == "0"
    assert "Read-only file system" in r.err and "rc=1" in r.out


def test_masked_path_symlinked_devnull(env):
    """CVE-2025-31133: /dev/null in the rootfs is a symlink; masking uses the host's null device."""
    def patch(c):
        c["mounts"] = [m for m in c["mounts"]
                       if m["destination"] not in ("/dev",) and not m["destination"].startswith("/dev/")]
        c["mounts"].insert(0, {"destination": "/proc", "type": "proc", "source": "proc"})
    b = env.bundle(["sh", "-c",
                    "wc -c < /proc/timer_list; grep ' /proc/timer_list ' /proc/self/mountinfo | cut -d' ' -f4"],
                   own_rootfs=True, patch=patch)
    dev = os.path.join(b, "rootfs", "dev")
    os.symlink("/proc/sys/kernel/core_pattern", os.path.join(dev, "null"))
    r = env.run(bundle=b)
    # the container creates its own /dev/null (replacing the symlink), masking uses the host's
    assert r.rc == 0 and r.out.split() == ["0", "/null"], r


def test_process_settings(env):
    def patch(c):
        p = c["process"]
        p["env"] = ["PATH=/bin", "FOO=bar baz"]
        p["cwd"] = "/work/here"
        p["user"] = {"uid": 1000, "gid": 1001, "additionalGids": [5, 7], "umask": 0o027}
        p["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 321, "hard": 654},
                        {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}]
        p["oomScoreAdj"] = 123
        p["noNewPrivileges"] = True
    r = env.sh('echo "$FOO"; pwd; id -u; id -g; id -G; umask; ulimit -n; ulimit -Hn; '
               'cat /proc/self/oom_score_adj; grep NoNewPrivs /proc/self/status; env | grep -c =', patch=patch)
    assert r.rc == 0, r
    lines = r.out.splitlines()
    assert lines[:7] == ["bar baz", "/work/here", "1000", "1001", "1001 5 7", "0027", "321"], lines
    assert lines[7] == "654" and lines[8] == "123" and lines[9].split() == ["NoNewPrivs:", "1"]
    # only the configured environment (PWD/SHLVL come from sh itself)
    assert int(lines[10]) <= 5


def test_nnp_off(env):
    r = env.sh("grep NoNewPrivs /proc/self/status", patch=lambda c: c["process"].update(noNewPrivileges=False))
    assert r.out.split() == ["NoNewPrivs:", "0"], r


def test_capabilities_exact(env):
    r = env.sh("grep Cap /proc/self/status", patch=lambda c: c["process"].update(capabilities={
        "bounding": ["CAP_KILL", "CAP_CHOWN", "CAP_NET_RAW"], "effective": ["CAP_KILL"],
        "permitted": ["CAP_KILL", "CAP_CHOWN"], "inheritable": ["CAP_CHOWN"], "ambient": ["CAP_CHOWN"]}))
    assert r.rc == 0, r
    caps = {l.split()[0]: int(l.split()[1], 16) for l in r.out.splitlines()}
    assert caps["CapBnd:"] == (1 << 5) | (1 << 0) | (1 << 13)
    assert caps["CapInh:"] == 1 and caps["CapAmb:"] == 1
    # ambient capabilities are added to the permitted and effective sets by execve
    assert caps["CapPrm:"] == (1 << 5) | 1 and caps["CapEff:"] == (1 << 5) | 1


def test_args_lookup_in_path(env):
    r = env.run(["busybox", "echo", "found"], patch=lambda c: c["process"].update(env=["PATH=/nope:/bin"]))
    assert r.rc == 0 and r.out == "found\n", r
    r = env.run(["/bin/echo", "abs"])
    assert r.rc == 0 and r.out == "abs\n", r


def test_sysctl(env):
    r = env.sh("cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni",
               patch=lambda c: c["linux"].update(sysctl={"net.ipv4.ip_forward": "1", "kernel.shmmni": "1234"}))
    assert r.rc == 0 and r.out.split() == ["1", "1234"], r
    assert open("/proc/sys/kernel/shmmni").read().strip() != "1234"


def test_no_pivot(env):
    b = env.bundle(["sh", "-c", "echo $$; ls /"])
    r = env.pyrunc("run", "--no-pivot", "--bundle", b, env.new_id())
    assert r.rc == 0 and r.out.split()[0] == "1" and "bin" in r.out, r


def test_no_fd_leaks(env):
    """Only stdio reaches the container, even when the caller holds other fds (containerd
    passes its ttrpc socket as fd 3)."""
    r_fd, w_fd = os.pipe()
    os.set_inheritable(r_fd, True)
    try:
        b = env.bundle(["sh", "-c", "ls /proc/self/fd"])
        r = env.pyrunc("run", "--bundle", b, env.new_id(), pass_fds=(r_fd,))
    finally:
        os.close(r_fd)
        os.close(w_fd)
    assert r.rc == 0 and sorted(r.out.split()) == ["0", "1", "2", "3"], r  # 3 is ls's own dir fd


def test_preserve_fds(env, tmp_path):
    f = tmp_path / "data"
    f.write_text("preserved\n")
    fd = os.open(f, os.O_RDONLY)
    try:
        b = env.bundle(["sh", "-c", "cat <&3; ls /proc/self/fd | wc -l"])
        # the shell opens the file as fd 3 for pyrunc, as engines pass their fds
        r = env.pyrunc("--root", env.root, "run", "--preserve-fds", "1", "--bundle", b, env.new_id(),
                       root=False, wrap=f"exec 3<{f}; exec \"$@\"")
    finally:
        os.close(fd)
    assert r.rc == 0 and r.out.split() == ["preserved", "5"], r  # 0,1,2,3 and ls's own fd


@V1_HOST
def test_peak_memory_below_2mib(env):
    """What runs in the container before execve is the small C executor: the memory cgroup
    records a peak below 2 MiB for a container running `true`."""
    b = env.bundle(["true"])
    cid = env.new_id()
    assert env.pyrunc("create", "--bundle", b, cid).rc == 0
    assert env.pyrunc("start", cid).rc == 0
    for _ in range(200):
        if env.state(cid)["status"] == "stopped":
            break
        time.sleep(0.01)
    n = b.rsplit("bundle", 1)[1]
    peak = int(open(f"/sys/fs/cgroup/memory{env.cgparent}/{n}/memory.max_usage_in_bytes").read())
    assert env.pyrunc("delete", cid).rc == 0
    assert peak < 2 * 1024 * 1024, peak


def test_host_binary_not_exposed(env):
    """/proc/<init>/exe before start is the sealed copy: it cannot be opened for writing."""
    b = env.bundle(["true"])
    cid = env.new_id()
    assert env.pyrunc("create", "--bundle", b, cid).rc == 0
    pid = env.state(cid)["pid"]
    with pytest.raises(OSError):
        os.open(f"/proc/{pid}/exe", os.O_WRONLY)
    assert env.pyrunc("delete", "-f", cid).rc == 0

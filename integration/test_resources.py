"""linux.resources, pause/resume, update, ps, events and kill --all on real containers.

These tests run on whatever cgroup layout the machine has: on this host (hybrid: v1
controllers plus a cgroup2 mount) directly, and on pure cgroup v2 inside a VM
(integration/test_cgroup_v2_vm.py boots it and runs this file there).  Each test reads the
cgroup files back through its own idea of where they are (`CG`), not through pyrunc's code.
"""

import json
import os
import subprocess
import time

import pytest

from conftest import PYRUNC


def _pure_v2():
    return os.path.exists("/sys/fs/cgroup/cgroup.controllers")


class CG:
    """Where a controller's files are for a cgroupsPath, found independently of pyrunc."""

    def __init__(self, cgpath):
        self.cgpath = cgpath

    def dir(self, ctrl):
        if _pure_v2():
            return "/sys/fs/cgroup" + self.cgpath
        v1 = f"/sys/fs/cgroup/{ctrl}"
        if os.path.exists(os.path.join(v1, "tasks")):
            return v1 + self.cgpath
        return "/sys/fs/cgroup/unified" + self.cgpath

    def v2(self, ctrl):
        return _pure_v2() or not os.path.exists(f"/sys/fs/cgroup/{ctrl}/tasks")

    def read(self, ctrl, v1file, v2file=None):
        f = v2file if self.v2(ctrl) else v1file
        with open(os.path.join(self.dir(ctrl), f)) as fh:
            return fh.read().strip()


def start_sleeper(env, patch=None, args=None):
    """A created-and-started container running args (sleep by default); returns (cid, CG)."""
    b = env.bundle(args or ["sleep", "1000"], patch=patch)
    cgpath = json.load(open(os.path.join(b, "config.json")))["linux"]["cgroupsPath"]
    cid = env.new_id()
    r = env.pyrunc("create", "--bundle", b, cid, stdin=subprocess.DEVNULL)
    assert r.rc == 0, r
    r = env.pyrunc("start", cid)
    assert r.rc == 0, r
    return cid, CG(cgpath)


def resources(res):
    def patch(cfg):
        cfg["linux"]["resources"] = res
    return patch


def cpu_weight(shares):
    import math
    lg = math.log2(shares)
    return int(math.ceil(10 ** ((lg * lg + 125 * lg) / 612.0 - 7.0 / 34.0)))


def test_limits_are_written(env):
    mib = 1 << 20
    cid, cg = start_sleeper(env, resources({
        "memory": {"limit": 64 * mib, "reservation": 32 * mib, "swap": 96 * mib},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
        "pids": {"limit": 64},
    }))
    assert cg.read("memory", "memory.limit_in_bytes", "memory.max") == str(64 * mib)
    assert cg.read("memory", "memory.soft_limit_in_bytes", "memory.low") == str(32 * mib)
    if cg.v2("memory"):
        if os.path.exists(os.path.join(cg.dir("memory"), "memory.swap.max")):
            assert cg.read("memory", "", "memory.swap.max") == str(32 * mib)  # swap alone
        assert cg.read("cpu", "", "cpu.weight") == str(cpu_weight(512))
        assert cg.read("cpu", "", "cpu.max") == "50000 100000"
    else:
        assert cg.read("memory", "memory.memsw.limit_in_bytes") == str(96 * mib)
        assert cg.read("cpu", "cpu.shares") == "512"
        assert cg.read("cpu", "cpu.cfs_quota_us") == "50000"
        assert cg.read("cpu", "cpu.cfs_period_us") == "100000"
    assert cg.read("cpuset", "cpuset.cpus", "cpuset.cpus") == "0"
    assert cg.read("cpuset", "cpuset.mems", "cpuset.mems") == "0"
    assert cg.read("pids", "pids.max", "pids.max") == "64"


def test_v1_only_fields_and_unlimited_values(env):
    cid, cg = start_sleeper(env, resources({
        "memory": {"limit": -1, "swappiness": 10, "disableOOMKiller": False},
        "cpu": {"quota": -1, "period": 50000},
        "pids": {"limit": -1},
    }))
    assert cg.read("pids", "pids.max", "pids.max") == "max"
    if cg.v2("cpu"):
        assert cg.read("cpu", "", "cpu.max") == "max 50000"
        assert cg.read("memory", "", "memory.max") == "max"
    else:
        assert cg.read("cpu", "cpu.cfs_quota_us") == "-1"
        assert cg.read("memory", "memory.swappiness") == "10"


def test_memory_limit_1mib_runs_true(env):
    """The C executor is all that runs in the container before execve: 1 MiB is enough
    (runc needs several)."""
    r = env.run(["true"], patch=resources({"memory": {"limit": 1 << 20, "swap": 1 << 20}}))
    assert r.rc == 0, r


def test_oom_kill_exit_137(env):
    script = "x=$(head -c 67108864 /dev/zero | tr '\\0' a); echo survived"
    r = env.sh(script, patch=resources({"memory": {"limit": 16 << 20, "swap": 16 << 20}}))
    assert r.rc == 137, r
    assert "survived" not in r.out


def test_oom_event_reported(env):
    script = "sleep 1; x=$(head -c 67108864 /dev/zero | tr '\\0' a); sleep 1000"
    b = env.bundle(["sh", "-c", script],
                   patch=resources({"memory": {"limit": 16 << 20, "swap": 16 << 20}}))
    cid = env.new_id()
    assert env.pyrunc("create", "--bundle", b, cid, stdin=subprocess.DEVNULL).rc == 0
    out = open(env.tmp / "events.out", "w+")
    ev = subprocess.Popen([PYRUNC, "--root", env.root, "events", "--interval", "1s", cid],
                          stdout=out, stderr=subprocess.STDOUT)
    try:
        assert env.pyrunc("start", cid).rc == 0
        deadline = time.monotonic() + 60
        seen = []
        while time.monotonic() < deadline:
            out.seek(0)
            seen = [json.loads(line) for line in out.read().splitlines() if line.startswith("{")]
            if any(e["type"] == "oom" for e in seen):
                break
            time.sleep(0.2)
        assert any(e["type"] == "oom" and e["id"] == cid for e in seen), seen
        assert any(e["type"] == "stats" for e in seen), seen
    finally:
        env.pyrunc("kill", cid, "KILL")
        ev.wait(timeout=30)
        out.close()
    assert ev.returncode == 0  # the stream ends when the container stops


def test_pids_limit_makes_fork_fail(env):
    r = env.sh("for i in 1 2 3 4 5 6 7 8; do sleep 5 & done 2>&1; echo done",
               patch=resources({"pids": {"limit": 4}}))
    assert "fork" in (r.out + r.err).lower() or "resource temporarily unavailable" in (r.out + r.err).lower(), r


def test_pause_resume(env):
    b = None
    script = "i=0; while true; do i=$((i+1)); echo $i > /count; sleep 0.05; done"
    def writable(cfg):
        cfg["root"]["readonly"] = False
    cid, cg = start_sleeper(env, patch=writable, args=["sh", "-c", script])
    counter = os.path.join(env.rootfs, "count")

    def count():
        for _ in range(200):
            try:
                return int(open(counter).read())
            except (OSError, ValueError):
                time.sleep(0.05)
        raise AssertionError("no count")

    time.sleep(0.3)
    assert env.pyrunc("pause", cid).rc == 0
    assert env.state(cid)["status"] == "paused"
    a = count()
    time.sleep(0.5)
    assert count() == a, "a paused container kept running"
    r = env.pyrunc("pause", cid)
    assert r.rc != 0 and "not running" in r.err  # as runc
    assert env.pyrunc("resume", cid).rc == 0
    assert env.state(cid)["status"] == "running"
    time.sleep(0.5)
    assert count() > a
    r = env.pyrunc("resume", cid)
    assert r.rc != 0 and "not paused" in r.err
    # a paused container can be deleted by force: it is thawed and killed
    assert env.pyrunc("pause", cid).rc == 0
    r = env.pyrunc("delete", "--force", cid)
    assert r.rc == 0, r
    del b


def test_pause_created_container(env):
    b = env.bundle(["true"])
    cid = env.new_id()
    assert env.pyrunc("create", "--bundle", b, cid, stdin=subprocess.DEVNULL).rc == 0
    assert env.pyrunc("pause", cid).rc == 0
    assert env.state(cid)["status"] == "paused"
    assert env.pyrunc("resume", cid).rc == 0
    assert env.state(cid)["status"] == "created"


def test_update_flags_and_json(env):
    mib = 1 << 20
    cid, cg = start_sleeper(env, resources({"memory": {"limit": 64 * mib}, "pids": {"limit": 10},
                                            "cpu": {"quota": 20000, "period": 100000}}))
    r = env.pyrunc("update", "--memory", "128m", "--pids-limit", "20", "--cpu-quota", "30000", cid)
    assert r.rc == 0, r
    assert cg.read("memory", "memory.limit_in_bytes", "memory.max") == str(128 * mib)
    assert cg.read("pids", "pids.max", "pids.max") == "20"
    if cg.v2("cpu"):
        assert cg.read("cpu", "", "cpu.max") == "30000 100000"  # the period is kept
    else:
        assert cg.read("cpu", "cpu.cfs_quota_us") == "30000"
    # containerd sends the resources as JSON on stdin
    doc = {"memory": {"limit": 96 * mib}, "cpu": {"shares": 256}, "pids": {"limit": 30}}
    r = env.pyrunc("update", "--resources", "-", cid, input=json.dumps(doc))
    assert r.rc == 0, r
    assert cg.read("memory", "memory.limit_in_bytes", "memory.max") == str(96 * mib)
    assert cg.read("pids", "pids.max", "pids.max") == "30"
    assert cg.read("cpu", "cpu.shares", "cpu.weight") == (str(cpu_weight(256)) if cg.v2("cpu") else "256")
    # a file works too
    f = env.tmp / "res.json"
    f.write_text(json.dumps({"pids": {"limit": 40}}))
    assert env.pyrunc("update", "-r", str(f), cid).rc == 0
    assert cg.read("pids", "pids.max", "pids.max") == "40"


@pytest.mark.parametrize("args,needle", [
    (["--memory", "lots"], "memory"),
    (["--pids-limit", "x"], "pids-limit"),
    (["--resources", "-"], "--resources"),
    (["--cpu-share", "-5"], "cpu-share"),
])
def test_update_bad_request_changes_nothing(env, args, needle):
    cid, cg = start_sleeper(env, resources({"memory": {"limit": 64 << 20}, "pids": {"limit": 10}}))
    r = env.pyrunc("update", *args, cid, input="{not json")
    assert r.rc != 0 and needle in r.err and len(r.err.strip().splitlines()) == 1, r
    assert cg.read("memory", "memory.limit_in_bytes", "memory.max") == str(64 << 20)
    assert cg.read("pids", "pids.max", "pids.max") == "10"


def test_update_failing_write_rolls_back(env):
    """A request that the kernel refuses half-way leaves the old values in place."""
    cid, cg = start_sleeper(env, resources({"memory": {"limit": 64 << 20}, "pids": {"limit": 10},
                                            "cpu": {"cpus": "0"}}))
    doc = {"memory": {"limit": 32 << 20}, "cpu": {"cpus": "4096"}}  # no such cpu
    r = env.pyrunc("update", "--resources", "-", cid, input=json.dumps(doc))
    assert r.rc != 0 and "cpu.cpus" in r.err, r
    assert cg.read("memory", "memory.limit_in_bytes", "memory.max") == str(64 << 20)
    assert cg.read("cpuset", "cpuset.cpus", "cpuset.cpus") == "0"
    # and the saved resources did not change: a later update merges with the old ones
    assert env.pyrunc("update", "--pids-limit", "11", cid).rc == 0
    assert cg.read("memory", "memory.limit_in_bytes", "memory.max") == str(64 << 20)


def test_update_check_before_update(env):
    cid, cg = start_sleeper(env, args=["sh", "-c", "x=$(head -c 8388608 /dev/zero | tr '\\0' a); sleep 1000 & wait"],
                            patch=resources({"memory": {"limit": 64 << 20}}))
    time.sleep(1)
    doc = {"memory": {"limit": 1 << 20, "checkBeforeUpdate": True}}
    r = env.pyrunc("update", "--resources", "-", cid, input=json.dumps(doc))
    assert r.rc != 0 and "current memory usage" in r.err, r
    assert cg.read("memory", "memory.limit_in_bytes", "memory.max") == str(64 << 20)


def test_update_stopped_container_fails(env):
    b = env.bundle(["true"])
    cid = env.new_id()
    assert env.pyrunc("run", "--detach", "--bundle", b, cid, stdin=subprocess.DEVNULL).rc == 0
    for _ in range(100):
        if env.state(cid)["status"] == "stopped":
            break
        time.sleep(0.05)
    r = env.pyrunc("update", "--memory", "64m", cid)
    assert r.rc != 0 and "stopped" in r.err


def test_ps(env):
    cid, cg = start_sleeper(env, args=["sh", "-c", "sleep 1000 & sleep 1000 & wait"])
    time.sleep(0.3)
    r = env.pyrunc("ps", "--format", "json", cid)
    assert r.rc == 0, r
    pids = json.loads(r.out)
    assert len(pids) == 3 and env.state(cid)["pid"] in pids
    r = env.pyrunc("ps", cid)
    assert r.rc == 0, r
    lines = r.out.strip().splitlines()
    assert "PID" in lines[0].split() and len(lines) == 4, r
    assert sum(line.endswith(" sleep 1000") for line in lines) == 2
    r = env.pyrunc("ps", cid, "-o", "pid,comm")
    assert r.rc == 0 and r.out.split()[:2] == ["PID", "COMMAND"], r
    r = env.pyrunc("ps", "--format", "yaml", cid)
    assert r.rc != 0 and "format" in r.err


def test_events_stats(env):
    cid, cg = start_sleeper(env, resources({"memory": {"limit": 64 << 20}, "pids": {"limit": 50}}),
                            args=["sh", "-c", "sleep 1000 & wait"])
    time.sleep(0.2)
    r = env.pyrunc("events", "--stats", cid)
    assert r.rc == 0, r
    ev = json.loads(r.out)
    assert ev["type"] == "stats" and ev["id"] == cid
    d = ev["data"]
    assert set(d) >= {"cpu", "memory", "pids", "blkio", "hugetlb", "cpuset"}
    assert d["pids"] == {"current": 2, "limit": 50}
    assert d["memory"]["usage"]["limit"] == 64 << 20 and d["memory"]["usage"]["usage"] > 0
    assert d["cpu"]["usage"]["total"] > 0
    assert isinstance(d["memory"]["raw"], dict) and d["memory"]["raw"]
    r = env.pyrunc("events", "--interval", "0", cid)
    assert r.rc != 0 and "interval" in r.err


def test_kill_all_and_delete(env):
    # no pid namespace: the container's children survive its init unless killed by cgroup
    def patch(cfg):
        cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "pid"]
    cid, cg = start_sleeper(env, patch=patch, args=["sh", "-c", "sleep 1000 & sleep 1000 & wait"])
    time.sleep(0.3)
    procs = os.path.join(cg.dir("pids"), "cgroup.procs")
    assert len(open(procs).read().split()) == 3
    r = env.pyrunc("kill", "--all", cid, "KILL")
    assert r.rc == 0, r
    for _ in range(100):
        if not open(procs).read().split():
            break
        time.sleep(0.05)
    assert open(procs).read().split() == []
    assert env.pyrunc("delete", cid).rc == 0
    assert not os.path.exists(cg.dir("pids"))


def test_delete_kills_leftovers(env):
    """The init exits, a child it left behind is killed by delete, every cgroup is removed."""
    def patch(cfg):
        cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "pid"]
    cid, cg = start_sleeper(env, patch=patch, args=["sh", "-c", "sleep 1000 & exit 0"])
    for _ in range(100):
        if env.state(cid)["status"] == "stopped":
            break
        time.sleep(0.05)
    procs = os.path.join(cg.dir("pids"), "cgroup.procs")
    assert len(open(procs).read().split()) == 1
    assert env.pyrunc("delete", cid).rc == 0
    assert not os.path.exists(cg.dir("pids")) and not os.path.exists(cg.dir("memory"))


def test_device_rules(env):
    # c 5:1 (/dev/console) is not in runc's default allow-list, and linux.devices makes the
    # node without allowing it (as runc): it cannot be opened unless a rule allows it
    script = "(: > /dev/con) 2>&1; echo rc=$?"

    def mk(extra):
        def patch(cfg):
            cfg["linux"]["devices"] = [{"path": "/dev/con", "type": "c", "major": 5, "minor": 1}]
            cfg["linux"]["resources"] = {"devices": [{"allow": False, "access": "rwm"}] + extra}
        return patch
    r = env.sh(script, patch=mk([]))
    assert "rc=1" in r.out and "not permitted" in r.out, r
    r = env.sh(script, patch=mk([{"allow": True, "type": "c", "major": 5, "minor": 1, "access": "w"}]))
    assert "rc=0" in r.out, r
    r = env.sh(script, patch=mk([{"allow": True, "type": "c", "major": 5, "minor": 1, "access": "r"}]))
    assert "rc=1" in r.out, r  # read allowed, write asked
    # the defaults stay usable
    r = env.sh("head -c 4 /dev/zero | wc -c; echo x > /dev/null && echo ok", patch=mk([]))
    assert r.out.split() == ["4", "ok"], r


def test_cgroup_namespace_view(env):
    def patch(cfg):
        cfg["linux"]["namespaces"].append({"type": "cgroup"})
        cfg["linux"]["resources"] = {"memory": {"limit": 48 << 20}, "pids": {"limit": 33}}
    if _pure_v2():
        script = "cat /proc/self/cgroup; cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max"
        r = env.sh(script, patch=patch)
        assert r.out.split() == ["0::/", str(48 << 20), "33"], r
    else:
        script = ("grep memory /proc/self/cgroup; cat /sys/fs/cgroup/memory/memory.limit_in_bytes "
                  "/sys/fs/cgroup/pids/pids.max")
        r = env.sh(script, patch=patch)
        assert r.out.split() == ["4:memory:/", str(48 << 20), "33"] or \
            r.out.split()[1:] == [str(48 << 20), "33"], r


def test_hugetlb_limit(env):
    sizes = os.listdir("/sys/kernel/mm/hugepages") if os.path.isdir("/sys/kernel/mm/hugepages") else []
    if "hugepages-2048kB" not in sizes:
        pytest.skip("no 2 MB huge pages on this machine")
    res = resources({"hugepageLimits": [{"pageSize": "2MB", "limit": 4 << 20}]})
    if not _pure_v2() and not os.path.isdir("/sys/fs/cgroup/hugetlb"):
        with open("/sys/fs/cgroup/unified/cgroup.subtree_control") as f:
            if "hugetlb" not in f.read().split():
                # hybrid host, hugetlb in the cgroup2 root but not passed down: pyrunc does
                # not change the host's root cgroup, it says so (the fixture checks nothing
                # was left and the root is unchanged)
                r = env.pyrunc("create", "--bundle", env.bundle(["true"], patch=res), env.new_id())
                assert r.rc != 0 and "hugetlb is not enabled in /sys/fs/cgroup/unified/" in r.err, r
                return
    cid, cg = start_sleeper(env, res)
    assert cg.read("hugetlb", "hugetlb.2MB.limit_in_bytes", "hugetlb.2MB.max") == str(4 << 20)


def test_blkio_throttle(env):
    devs = sorted(os.listdir("/sys/dev/block")) if os.path.isdir("/sys/dev/block") else []
    devs = [d for d in devs if os.path.exists(f"/sys/dev/block/{d}/queue")]  # whole disks
    if not devs:
        pytest.skip("no block device")
    major, minor = devs[0].split(":")
    dev = {"major": int(major), "minor": int(minor), "rate": 1048576}
    cid, cg = start_sleeper(env, resources({"blockIO": {"throttleReadBpsDevice": [dev],
                                                        "throttleWriteIOPSDevice": [dict(dev, rate=100)]}}))
    if cg.v2("blkio" if not _pure_v2() else "io"):
        text = cg.read("io", "", "io.max")
        assert f"{major}:{minor} rbps=1048576 wbps=max riops=max wiops=100" in text, text
    else:
        assert f"{major}:{minor} 1048576" in cg.read("blkio", "blkio.throttle.read_bps_device")
        assert f"{major}:{minor} 100" in cg.read("blkio", "blkio.throttle.write_iops_device")

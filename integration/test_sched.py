"""process.ioPriority and process.scheduler (runtime-spec 1.2; runc 1.2): applied to the
container's process, and to an exec'd one, and seen from the host (ioprio_get, /proc/PID/stat).
runc 1.1.5, installed here, predates both fields (it ignores them), so there is no
side-by-side run; the values are the kernel's."""

import ctypes
import json

import pytest

SYS_IOPRIO_GET = 252  # x86_64


def ioprio(pid):
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.syscall(SYS_IOPRIO_GET, 1, pid)  # IOPRIO_WHO_PROCESS


def sched(pid):
    """(policy, nice, rt_priority) from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    # after the name: field 3 is fields[0]; nice is field 19, rt_priority 40, policy 41
    return int(fields[38]), int(fields[16]), int(fields[37])


RT_BUDGET = "/sys/fs/cgroup/cpu/cpu.rt_runtime_us"


def realtime(c):
    """A real-time policy needs the cgroup's RT budget where the kernel groups RT tasks (v1
    cpu.rt_runtime_us, 0 in a new cgroup: sched_setattr fails with EPERM, under runc too):
    a cgroup right under the root, which has a budget, with linux.resources.cpu asking for
    a share of it."""
    import os
    if os.path.exists(RT_BUDGET):
        c["linux"]["cgroupsPath"] = "/" + c["linux"]["cgroupsPath"].strip("/").replace("/", "-") + "-rt"
        c["linux"].setdefault("resources", {})["cpu"] = {"realtimeRuntime": 10000, "realtimePeriod": 1000000}


def running(env, patch):
    b = env.bundle(["sleep", "100"], patch=patch)
    cid = env.new_id()
    r = env.pyrunc("run", "-d", "--bundle", b, cid)
    assert r.rc == 0, r
    return cid, env.state(cid)["pid"]


@pytest.mark.parametrize("cls,level,value", [("IOPRIO_CLASS_BE", 3, 2 << 13 | 3), ("IOPRIO_CLASS_IDLE", 0, 3 << 13),
                                             ("IOPRIO_CLASS_RT", 1, 1 << 13 | 1)])
def test_io_priority(env, cls, level, value):
    cid, pid = running(env, lambda c: c["process"].update(ioPriority={"class": cls, "priority": level}))
    assert ioprio(pid) == value
    assert env.pyrunc("delete", "--force", cid).rc == 0


@pytest.mark.parametrize("sc,want", [
    ({"policy": "SCHED_BATCH", "nice": 7}, (3, 7, 0)),
    ({"policy": "SCHED_IDLE"}, (5, 0, 0)),
    ({"policy": "SCHED_FIFO", "priority": 10}, (1, 0, 10)),
    ({"policy": "SCHED_RR", "priority": 3, "flags": ["SCHED_FLAG_RESET_ON_FORK"]}, (2, 0, 3)),
    ({"policy": "SCHED_OTHER", "nice": -5}, (0, -5, 0)),
])
def test_scheduler(env, sc, want):
    def patch(c):
        c["process"]["scheduler"] = sc
        if sc["policy"] in ("SCHED_FIFO", "SCHED_RR"):
            realtime(c)
    cid, pid = running(env, patch)
    assert sched(pid) == want
    assert env.pyrunc("delete", "--force", cid).rc == 0


def test_scheduler_deadline(env):
    sc = {"policy": "SCHED_DEADLINE", "runtime": 1000000, "deadline": 10000000, "period": 10000000}
    cid, pid = running(env, lambda c: c["process"].update(scheduler=sc))
    assert sched(pid)[0] == 6
    assert env.pyrunc("delete", "--force", cid).rc == 0


def test_exec_process_with_both(env, tmp_path):
    """exec --process: the exec'd process gets its own; the container's are not inherited."""
    cid, pid = running(env, lambda c: c["process"].update(scheduler={"policy": "SCHED_BATCH", "nice": 3}))
    proc = {"args": ["sh", "-c", "cut -d' ' -f19,41 /proc/self/stat"], "cwd": "/", "user": {"uid": 0, "gid": 0},
            "env": ["PATH=/bin:/usr/bin"], "scheduler": {"policy": "SCHED_IDLE"},
            "ioPriority": {"class": "IOPRIO_CLASS_IDLE", "priority": 0}}
    (tmp_path / "p.json").write_text(json.dumps(proc))
    r = env.pyrunc("exec", "--process", str(tmp_path / "p.json"), cid)
    assert r.rc == 0 and r.out.split() == ["0", "5"], r  # nice 0, SCHED_IDLE
    r = env.pyrunc("exec", cid, "sh", "-c", "cut -d' ' -f19,41 /proc/self/stat")
    assert r.rc == 0 and r.out.split() == ["3", "3"], r  # the container's process's (SCHED_BATCH, nice 3)
    assert env.pyrunc("delete", "--force", cid).rc == 0

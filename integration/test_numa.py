"""linux.memoryPolicy (runtime-spec 1.3) and process.execCPUAffinity (1.2): the NUMA policy of
the container's process and of what exec runs in it (seen in /proc/self/numa_maps), and the
CPU affinity of an exec'd process (not of the container's init, as the spec says).  runc
1.1.5 (installed here) predates both fields."""

import json
import os

import pytest


def numa_policy(env, mp):
    """The policies numa_maps shows for a process started in a container with mp."""
    r = env.run(["sh", "-c", "cut -d' ' -f2 /proc/self/numa_maps | sort -u"],
                patch=lambda c: c["linux"].update(memoryPolicy=mp))
    assert r.rc == 0, r
    return set(r.out.split())


@pytest.mark.skipif(not os.path.exists("/proc/self/numa_maps"), reason="a kernel without NUMA")
@pytest.mark.parametrize("mp,shown", [
    ({"mode": "MPOL_BIND", "nodes": "0"}, "bind:0"),
    ({"mode": "MPOL_INTERLEAVE", "nodes": "0"}, "interleave:0"),
    ({"mode": "MPOL_PREFERRED", "nodes": "0"}, "prefer:0"),
    ({"mode": "MPOL_LOCAL"}, "local"),
    ({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]}, "bind=static:0"),
])
def test_memory_policy(env, mp, shown):
    assert shown in numa_policy(env, mp)


@pytest.mark.skipif(not os.path.exists("/proc/self/numa_maps"), reason="a kernel without NUMA")
def test_memory_policy_for_exec(env):
    b = env.bundle(["sleep", "100"], patch=lambda c: c["linux"].update(memoryPolicy={"mode": "MPOL_BIND",
                                                                                       "nodes": "0"}))
    cid = env.new_id()
    assert env.pyrunc("run", "-d", "--bundle", b, cid).rc == 0
    r = env.pyrunc("exec", cid, "sh", "-c", "cut -d' ' -f2 /proc/self/numa_maps | sort -u")
    assert r.rc == 0 and "bind:0" in r.out.split(), r
    assert env.pyrunc("delete", "--force", cid).rc == 0


def allowed(text):
    return next(line.split()[1] for line in text.splitlines() if line.startswith("Cpus_allowed_list:"))


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_exec_cpu_affinity(env, tmp_path):
    cpus = sorted(os.sched_getaffinity(0))
    one = str(cpus[-1])
    b = env.bundle(["sleep", "100"], patch=lambda c: c["process"].update(execCPUAffinity={"final": one}))
    cid = env.new_id()
    assert env.pyrunc("run", "-d", "--bundle", b, cid).rc == 0
    pid = env.state(cid)["pid"]
    with open(f"/proc/{pid}/status") as f:
        assert allowed(f.read()) != one  # not the init's (the spec: exec only)
    r = env.pyrunc("exec", cid, "cat", "/proc/self/status")  # the container's process: its final
    assert r.rc == 0 and allowed(r.out) == one, r
    proc = {"args": ["cat", "/proc/self/status"], "cwd": "/", "user": {"uid": 0, "gid": 0}, "env": ["PATH=/bin"],
            "execCPUAffinity": {"initial": str(cpus[0]), "final": f"{cpus[0]}-{cpus[1]}"}}
    (tmp_path / "p.json").write_text(json.dumps(proc))
    r = env.pyrunc("exec", "--process", str(tmp_path / "p.json"), cid)
    assert r.rc == 0 and allowed(r.out) == f"{cpus[0]}-{cpus[1]}", r
    assert env.pyrunc("delete", "--force", cid).rc == 0

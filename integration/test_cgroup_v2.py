"""Pure cgroup v2 only (run inside the v2 VM by test_cgroup_v2_vm.py; skipped elsewhere)."""

import json
import os

import pytest
from test_resources import CG, resources, start_sleeper

if not os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
    pytest.skip("needs a pure cgroup v2 host (see test_cgroup_v2_vm.py)", allow_module_level=True)


def test_controllers_enabled_on_the_way_down(env):
    cid, cg = start_sleeper(env, resources({"pids": {"limit": 9}}))
    parent = os.path.dirname(cg.dir("pids"))
    on = open(os.path.join(parent, "cgroup.subtree_control")).read().split()
    assert {"memory", "pids", "cpu"} <= set(on), on
    assert cg.read("pids", "", "pids.max") == "9"


def test_unified_keys(env):
    cid, cg = start_sleeper(env, resources({"memory": {"limit": 64 << 20},
                                            "unified": {"memory.high": "33554432", "pids.max": "7"}}))
    assert cg.read("memory", "", "memory.high") == "33554432"
    assert cg.read("pids", "", "pids.max") == "7"
    assert cg.read("memory", "", "memory.max") == str(64 << 20)


def test_swap_and_weight_conversions(env):
    cid, cg = start_sleeper(env, resources({"memory": {"limit": 32 << 20, "swap": 32 << 20},
                                            "cpu": {"shares": 1024}}))
    if os.path.exists(os.path.join(cg.dir("memory"), "memory.swap.max")):
        assert cg.read("memory", "", "memory.swap.max") == "0"   # memory+swap == memory: no swap
    assert cg.read("cpu", "", "cpu.weight") == "100"  # runc's curve passes through 1024 -> 100


def test_cgroup_mount_views(env):
    def patch(ns):
        def p(cfg):
            cfg["mounts"] = [m for m in cfg["mounts"] if m["destination"] != "/sys/fs/cgroup"]
            cfg["mounts"].append({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                                  "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]})
            if ns:
                cfg["linux"]["namespaces"].append({"type": "cgroup"})
            cfg["linux"]["resources"] = {"pids": {"limit": 17}}
        return p
    for ns in (False, True):
        r = env.sh("cat /sys/fs/cgroup/pids.max; grep ' /sys/fs/cgroup ' /proc/self/mountinfo", patch=patch(ns))
        lines = r.out.splitlines()
        assert lines and lines[0] == "17", r
        assert "cgroup2" in lines[1] and " ro," in lines[1] + ",", r


def test_device_program_attached(env):
    def patch(cfg):
        cfg["linux"]["resources"] = {"devices": [{"allow": False, "access": "rwm"}]}
    cid, cg = start_sleeper(env, patch)
    from pyrunc._native import ffi, lib
    fd = os.open(cg.dir("devices"), os.O_RDONLY | os.O_DIRECTORY)
    try:
        ids = ffi.new("unsigned int[]", 8)
        cnt = ffi.new("unsigned int *", 8)
        assert lib.pyrunc_bpf_query(fd, ids, cnt) == 0
        assert cnt[0] == 1
    finally:
        os.close(fd)


def test_state_json_keeps_resources(env):
    cid, cg = start_sleeper(env, resources({"pids": {"limit": 5}}))
    assert env.pyrunc("update", "--pids-limit", "6", cid).rc == 0
    st = json.load(open(os.path.join(env.root, cid, "state.json")))
    assert st["resources"]["pids"]["limit"] == 6
    assert isinstance(CG, type)


def test_exec_into_a_cgroup_namespace(env):
    """exec joins the container's cgroup namespace only once it is in the container's cgroup:
    the kernel refuses CLONE_INTO_CGROUP from a cgroup outside the namespace's root (podman's
    containers have a cgroup namespace on v2: its `exec` failed with "clone: No such file or
    directory")."""
    def patch(cfg):
        cfg["linux"]["namespaces"].append({"type": "cgroup"})
    b = env.bundle(["sleep", "1000"], patch=patch)
    cid = env.new_id()
    assert env.pyrunc("run", "-d", "--bundle", b, cid).rc == 0
    r = env.pyrunc("exec", cid, "cat", "/proc/self/cgroup")
    assert r.rc == 0 and r.out == "0::/\n", r
    assert env.pyrunc("delete", "--force", cid).rc == 0

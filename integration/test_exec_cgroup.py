"""exec --cgroup (runc 1.2): the process joins an existing sub-cgroup of the container's, in
every hierarchy ("path") or in those of the named v1 controllers ("ctrl1,ctrl2:path").
runc 1.1.5 (installed here) predates the flag."""

import json
import os


def running_with_sub(env, name="s1"):
    b = env.bundle(["sleep", "100"])
    cid = env.new_id()
    assert env.pyrunc("run", "-d", "--bundle", b, cid).rc == 0
    with open(os.path.join(env.root, cid, "state.json")) as f:
        paths = json.load(f)["cgroup"]["paths"]
    for p in paths.values():
        d = os.path.join(p, name)
        os.mkdir(d)
        for f in ("cpuset.cpus", "cpuset.mems"):  # a v1 cpuset cgroup takes no task while empty
            if os.path.exists(os.path.join(p, f)) and "cpuset/" in p:
                with open(os.path.join(p, f)) as src, open(os.path.join(d, f), "w") as dst:
                    dst.write(src.read())
    return cid, paths


def own_cgroups(text):
    """{controller list or "": path} of /proc/self/cgroup lines."""
    out = {}
    for line in text.splitlines():
        _, ctrls, path = line.split(":", 2)
        out[ctrls] = path
    return out


def test_every_hierarchy(env):
    cid, paths = running_with_sub(env)
    r = env.pyrunc("exec", "--cgroup", "s1", cid, "cat", "/proc/self/cgroup")
    assert r.rc == 0, r
    cg = own_cgroups(r.out)
    assert cg and all(p.endswith("/s1") for p in cg.values()), cg
    r = env.pyrunc("exec", cid, "cat", "/proc/self/cgroup")  # without: the container's own
    assert r.rc == 0 and not any(p.endswith("/s1") for p in own_cgroups(r.out).values()), r
    assert env.pyrunc("delete", "--force", cid).rc == 0  # the sub-cgroups go with it
    assert not any(os.path.exists(p) for p in paths.values())


def test_named_controllers(env):
    cid, paths = running_with_sub(env)
    if list(paths) == ["unified"]:
        r = env.pyrunc("exec", "--cgroup", "memory:s1", cid, "true")
        assert r.rc == 255 and "only be named on cgroup v1" in r.err, r
    else:
        r = env.pyrunc("exec", "--cgroup", "memory,pids:s1", cid, "cat", "/proc/self/cgroup")
        assert r.rc == 0, r
        cg = own_cgroups(r.out)
        inside = {k for k, p in cg.items() if p.endswith("/s1")}
        assert inside == {"memory", "pids"}, cg
    assert env.pyrunc("delete", "--force", cid).rc == 0


def test_bad_sub_cgroups(env):
    cid, _ = running_with_sub(env)
    for arg, needle in [("nosuch", "does not exist"), ("../escape", "sub-cgroup of the container"),
                        ("memory:", "sub-cgroup of the container")]:
        r = env.pyrunc("exec", "--cgroup", arg, cid, "true")
        assert r.rc == 255 and needle in r.err and len(r.err.strip().splitlines()) == 1, (arg, r)
    assert env.pyrunc("delete", "--force", cid).rc == 0

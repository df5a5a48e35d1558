"""Behaviours that the OCI runtime-tools validation suite found wrong in pyrunc (docs/
conformance.md), each checked here by our own test.  runc and crun behave the same way,
except where a test says otherwise."""

import os
import subprocess
import textwrap

import pytest

from conftest import PYRUNC

V1_MEMORY = os.path.exists("/sys/fs/cgroup/memory/memory.limit_in_bytes")


def _no_mount_ns(c):
    """Every namespace but mount (runtime-tools linux_ns_itype removes them all)."""
    c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "mount"]
    c["linux"].pop("maskedPaths", None)
    c["linux"].pop("readonlyPaths", None)
    c["root"]["readonly"] = False


def test_no_mount_namespace_shares_the_runtimes_and_delete_detaches(env):
    """Without a mount namespace the container shares the runtime's (runtime-spec: a
    namespace not listed is inherited): its mounts are made there, inside the rootfs, it is
    chrooted into the rootfs, exec lands in the same root, and delete detaches every mount it
    made.  All of it runs in a private mount namespace of the test's own, which is the
    "runtime's namespace" here, so the host's is never touched."""
    bundle = env.bundle(["sleep", "1000"], patch=_no_mount_ns, own_rootfs=True)
    rootfs = os.path.join(bundle, "rootfs")
    cid = env.new_id()
    script = textwrap.dedent(f"""\
        P="{PYRUNC} --root {env.root}"
        mounts() {{ awk -v r="{rootfs}" 'index($5, r) == 1 {{print $5}}' /proc/self/mountinfo | sort; }}
        echo "before: $(mounts | wc -l)"
        $P create --bundle {bundle} {cid} || exit 1
        echo "created: $(mounts | tr '\\n' ' ')"
        $P start {cid}
        pid=$(sed 's/.*"pid": *\\([0-9]*\\).*/\\1/' {env.root}/{cid}/state.json)
        echo "mntns: $(readlink /proc/$pid/ns/mnt) $(readlink /proc/self/ns/mnt)"
        echo "root: $(readlink /proc/$pid/root)"
        $P exec {cid} sh -c 'echo "exec: $(ls /bin/busybox) $(readlink /proc/self/root)"'
        $P delete --force {cid}
        echo "deleted: $(mounts | wc -l)"
        """)
    cp = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                        capture_output=True, text=True, timeout=60)
    out = dict(l.split(": ", 1) for l in cp.stdout.splitlines() if ": " in l)
    assert cp.returncode == 0 and out.get("deleted") == "0", (cp.stdout, cp.stderr)
    assert out["before"] == "0"
    made = out["created"].split()
    assert f"{rootfs}/proc" in made and f"{rootfs}/dev" in made, out
    a, b = out["mntns"].split()
    assert a == b, out  # the container's mount namespace is the runtime's
    assert out["root"] == rootfs
    assert out["exec"] == "/bin/busybox /", out


def test_no_mount_namespace_failed_create_detaches(env):
    """A create that fails after the mounts were made leaves none of them."""
    def patch(c):
        _no_mount_ns(c)
        c["process"]["args"] = ["/no/such/binary"]
    bundle = env.bundle(patch=patch, own_rootfs=True)
    rootfs = os.path.join(bundle, "rootfs")
    script = (f"{PYRUNC} --root {env.root} create --bundle {bundle} {env.new_id()}; echo rc=$?; "
              f"awk -v r={rootfs} 'index($5, r) == 1' /proc/self/mountinfo | wc -l")
    cp = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                        capture_output=True, text=True, timeout=60)
    assert cp.stdout.split() == ["rc=1", "0"], (cp.stdout, cp.stderr)
    assert "/no/such/binary" in cp.stderr


@pytest.mark.parametrize("path,value", [("linux.maskedPaths", ["/proc/kcore"]),
                                        ("linux.readonlyPaths", ["/proc/sys"]),
                                        ("linux.rootfsPropagation", "rprivate"),
                                        ("root.readonly", True)])
def test_no_mount_namespace_refuses_what_would_change_the_runtimes_mounts(env, path, value):
    """As runc for masked and read-only paths ("unable to restrict sys entries without a
    private MNT namespace"); runc ignores the other two, pyrunc says so."""
    def patch(c):
        _no_mount_ns(c)
        top, key = path.split(".")
        c[top][key] = value
    r = env.run(["true"], patch=patch)
    assert r.rc == 1 and f"{path} needs a mount namespace" in r.err, r


def test_rootfs_propagation_unbindable(env):
    """runtime-tools linux_rootfs_propagation: with rootfsPropagation unbindable, a bind
    mount of / fails with EINVAL in the container (runc 1.1 fails to create it at all)."""
    def patch(c):
        c["linux"]["rootfsPropagation"] = "unbindable"
        c["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"})
        c["process"]["capabilities"]["bounding"].append("CAP_SYS_ADMIN")
        c["process"]["capabilities"]["effective"].append("CAP_SYS_ADMIN")
        c["process"]["capabilities"]["permitted"].append("CAP_SYS_ADMIN")
    r = env.sh("awk '$5 == \"/\"' /proc/self/mountinfo; mkdir /tmp/t; "
               "mount --bind / /tmp/t 2>&1; echo rc=$?", patch=patch)
    assert r.rc == 0 and "unbindable" in r.out, r
    assert "Invalid argument" in r.out and "rc=0" not in r.out, r


def test_mount_label_without_selinux_is_a_warning(env):
    """runtime-tools linux_mount_label: a mount label where SELinux is not enabled runs, with
    a warning (as crun; runc 1.1 passes context= and its mounts fail)."""
    from pyrunc import lsm
    if lsm.selinux_enabled():
        pytest.skip("SELinux is enabled here")
    r = env.run(["true"], patch=lambda c: c["linux"].update(
        mountLabel="system_u:object_r:svirt_sandbox_file_t:s0:c715,c811"))
    assert r.rc == 0, r
    assert "warning: config.json: linux.mountLabel" in r.err and "ignored" in r.err, r


@pytest.mark.skipif(not V1_MEMORY, reason="no cgroup v1 memory hierarchy")
def test_kernel_tcp_limit_on_v1(env):
    """runtime-tools linux_cgroups_memory: kernelTCP is set (as crun); kernel memory is
    warned about (the kernel no longer enforces it)."""
    limit = 50593792
    bundle = env.bundle(["sleep", "100"], patch=lambda c: c["linux"].update(
        resources={"memory": {"limit": limit, "kernel": limit, "kernelTCP": limit}}))
    cid = env.new_id()
    r = env.pyrunc("run", "-d", "--bundle", bundle, cid)
    assert r.rc == 0, r
    assert "memory.kernel is ignored" in r.err
    pid = env.state(cid)["pid"]
    with open(f"/proc/{pid}/cgroup") as f:
        path = next(l.split(":")[2].strip() for l in f if ":memory:" in l)
    with open(f"/sys/fs/cgroup/memory{path}/memory.kmem.tcp.limit_in_bytes") as f:
        assert int(f.read()) == limit

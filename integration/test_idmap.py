"""Idmapped bind mounts: options idmap/ridmap and a mount's own uidMappings/gidMappings.

A host directory owned by root is mounted into a container whose root is host uid
100000: without an id mapping its files show as the overflow uid (65534), with one they
show as the container's root, and files the container makes land on the host as root's.
"""

import os
import subprocess

import pytest

USERNS = [{"containerID": 0, "hostID": 100000, "size": 65536}]


def in_userns(mounts):
    def patch(c):
        c["linux"]["namespaces"] = [{"type": t} for t in ("pid", "ipc", "uts", "mount", "user", "network")]
        c["linux"]["uidMappings"] = USERNS
        c["linux"]["gidMappings"] = USERNS
        c["linux"].pop("resources", None)
        # mount points under a tmpfs of the container's root (the shared rootfs is host root's)
        c["mounts"] += [{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}] + mounts
    return patch


@pytest.fixture
def hostdir(tmp_path):
    d = tmp_path / "hostdir"
    d.mkdir()
    (d / "f").write_text("x")
    os.chown(d / "f", 0, 0)
    os.chown(d, 0, 0)
    return d


def test_idmap_takes_the_container_mapping(env, hostdir):
    r = env.sh("stat -c %u:%g /tmp/plain/f /tmp/idm/f; touch /tmp/idm/made && stat -c %u /tmp/idm/made; "
               "grep -c idmapped /proc/self/mountinfo",
               patch=in_userns([
                   {"destination": "/tmp/plain", "type": "bind", "source": str(hostdir), "options": ["bind"]},
                   {"destination": "/tmp/idm", "type": "bind", "source": str(hostdir), "options": ["bind", "idmap"]}]))
    assert r.rc == 0, r
    assert r.out.split() == ["65534:65534", "0:0", "0", "1"], r
    st = os.stat(hostdir / "made")  # the container's root wrote it as host root, through the mapping
    assert (st.st_uid, st.st_gid) == (0, 0)


def test_mount_mappings_of_its_own(env, hostdir):
    """Without a user namespace, a mount's uidMappings/gidMappings alone idmap it: disk
    uid 0 is seen as 1234 (the mapping's host id) in the container."""
    def patch(c):
        c["mounts"].append({"destination": "/idm", "type": "bind", "source": str(hostdir), "options": ["bind"],
                            "uidMappings": [{"containerID": 0, "hostID": 1234, "size": 1}],
                            "gidMappings": [{"containerID": 0, "hostID": 4321, "size": 1}]})
    r = env.sh("stat -c %u:%g /idm/f", patch=patch)
    assert r.rc == 0 and r.out.split() == ["1234:4321"], r


@pytest.mark.parametrize("option,sub_owner", [("idmap", "65534"), ("ridmap", "0")])
def test_idmap_and_ridmap_on_submounts(env, hostdir, option, sub_owner):
    """rbind + idmap maps the top mount only; ridmap maps every submount too."""
    sub = hostdir / "sub"
    sub.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=755", "pyrunc-test-sub", str(sub)], check=True)
    try:
        (sub / "g").write_text("y")
        r = env.sh("stat -c %u /tmp/idm/f /tmp/idm/sub/g",
                   patch=in_userns([{"destination": "/tmp/idm", "type": "bind", "source": str(hostdir),
                                     "options": ["rbind", option]}]))
    finally:
        subprocess.run(["umount", "-l", str(sub)], check=True)
    assert r.rc == 0 and r.out.split() == ["0", sub_owner], r

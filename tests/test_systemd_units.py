"""The systemd driver's pure parts: cgroupsPath → unit and slice, slice paths, annotations and
resources → unit properties (as runc converts them).  The driver itself runs in the systemd
VM (integration/test_systemd.py)."""

import pytest

from pyrunc.cgroups import devices as dev_rules
from pyrunc.cgroups.systemd import (
    INFINITY,
    annotation_props,
    device_props,
    expand_slice,
    resource_props,
    unit_of,
)
from pyrunc.errors import ConfigError


@pytest.mark.parametrize("name,path", [
    ("system.slice", "/system.slice"), ("-.slice", "/"),
    ("kubepods-besteffort-pod1.slice",
     "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice")])
def test_expand_slice(name, path):
    assert expand_slice(name) == path


@pytest.mark.parametrize("bad", ["system", ".slice", "a--b.slice", "-a.slice", "a/b.slice", "a-.slice"])
def test_bad_slice_names(bad):
    with pytest.raises(ConfigError, match="invalid slice name"):
        expand_slice(bad)


@pytest.mark.parametrize("path,rootless,want", [
    ("system.slice:docker:abc", False, ("system.slice", "docker-abc.scope")),
    ("machine.slice:libpod:abc", False, ("machine.slice", "libpod-abc.scope")),
    (":libpod:abc", False, ("system.slice", "libpod-abc.scope")),
    (":libpod:abc", True, ("user.slice", "libpod-abc.scope")),
    ("", False, ("system.slice", "runc-cid.scope")),
    ("kubepods.slice:cri:kubepods-burstable.slice", False, ("kubepods.slice", "kubepods-burstable.slice")),
])
def test_unit_of(path, rootless, want):
    assert unit_of(path, "cid", rootless) == want


@pytest.mark.parametrize("bad", ["/absolute/path", "a:b", "a:b:c:d", "notaslice:p:n", "system.slice:p:"])
def test_bad_cgroups_paths(bad):
    with pytest.raises(ConfigError):
        unit_of(bad, "cid")


def test_annotations():
    props = annotation_props({
        "org.systemd.property.TimeoutStopSec": "uint64 7",
        "org.systemd.property.CollectMode": "'inactive-or-failed'",
        "org.systemd.property.CPUWeight": "uint64 50",
        "org.systemd.property.IgnoreOnIsolate": "true",
        "org.systemd.property.After": "['a.service', 'b.service']",
        "org.systemd.property.RuntimeMaxSec": "2.5",
        "other.annotation": "x"})
    assert dict(props) == {"TimeoutStopUSec": ("t", 7000000), "CollectMode": ("s", "inactive-or-failed"),
                           "CPUWeight": ("t", 50), "IgnoreOnIsolate": ("b", True),
                           "After": ("as", ["a.service", "b.service"]), "RuntimeMaxUSec": ("t", 2500000)}


@pytest.mark.parametrize("key,value", [("org.systemd.property.ab", "1"), ("org.systemd.property.Foo1", "1"),
                                       ("org.systemd.property.Foo", "unquoted words"),
                                       ("org.systemd.property.FooSec", "'text'"),
                                       ("org.systemd.property.Foo", "uint64 'x'")])
def test_bad_annotations(key, value):
    with pytest.raises(ConfigError):
        annotation_props({key: value})


def v(n):
    return lambda: n


def test_resources_v2():
    res = {"memory": {"limit": 64 << 20, "reservation": 32 << 20, "swap": 96 << 20},
           "cpu": {"shares": 1024, "quota": 33333, "period": 100000, "cpus": "0-2,5"},
           "pids": {"limit": 40}, "blockIO": {"weight": 500}}
    props, out = resource_props(res, True, v(252))
    assert dict(props) == {
        "MemoryMax": ("t", 64 << 20), "MemoryLow": ("t", 32 << 20), "MemorySwapMax": ("t", 32 << 20),
        "CPUWeight": ("t", 100), "CPUQuotaPeriodUSec": ("t", 100000),
        "CPUQuotaPerSecUSec": ("t", 340000),  # whole percents: 33.333% -> 34%
        "AllowedCPUs": ("ay", bytes([0b00100111])), "TasksMax": ("t", 40), "IOWeight": ("t", 4950)}
    assert out["cpu"]["quota"] == 34000  # the file gets what systemd keeps
    assert res["cpu"]["quota"] == 33333  # the caller's document is not changed


def test_resources_v1_and_unset_values():
    props, _ = resource_props({"memory": {"limit": -1}, "cpu": {"shares": 512}, "pids": {"limit": -1},
                               "blockIO": {"weight": 0}}, False, v(252))
    assert dict(props) == {"MemoryLimit": ("t", INFINITY), "CPUShares": ("t", 512), "TasksMax": ("t", INFINITY)}
    props, _ = resource_props({"pids": {"limit": 0}, "cpu": {"shares": 0, "quota": 0, "period": 0}}, True, v(252))
    assert props == []


def test_old_systemd_gets_no_newer_properties():
    props, _ = resource_props({"cpu": {"period": 50000, "quota": 25000, "cpus": "1"}}, True, v(239))
    assert dict(props) == {"CPUQuotaPerSecUSec": ("t", 500000)}


def test_unified_keys():
    props, _ = resource_props({"unified": {"memory.high": "1000", "memory.max": "max", "pids.max": "0",
                                           "cpu.max": "50000 100000", "io.weight": "50"}}, True, v(252))
    assert dict(props) == {"MemoryHigh": ("t", 1000), "MemoryMax": ("t", INFINITY), "TasksMax": ("t", 1),
                           "CPUQuotaPeriodUSec": ("t", 100000), "CPUQuotaPerSecUSec": ("t", 500000)}


def test_devices_as_an_allow_list():
    rules = dev_rules.rules([{"allow": False, "access": "rwm"},
                             {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rw"}])
    props = device_props(rules, v(252))
    assert props[:2] == [("DeviceAllow", ("a(ss)", [])), ("DevicePolicy", ("s", "strict"))]
    allowed = dict(props[2][1][1])
    assert allowed["/dev/char/10:229"] == "rw" and allowed["/dev/char/1:3"] == "rwm"
    assert allowed["char-*"] == "m" and allowed["block-*"] == "m" and allowed["char-136"] == "rwm"


def test_devices_allow_all():
    props = device_props(dev_rules.rules([{"allow": True, "access": "rwm"}]), v(252))
    assert props == [("DeviceAllow", ("a(ss)", [])), ("DevicePolicy", ("s", "auto"))]


def test_delete_asks_systemd_only_while_the_unit_is_loaded(tmp_path, monkeypatch):
    """A unit systemd has unloaded (its transient file gone, its cgroup gone) needs no
    D-Bus at delete; one still loaded (running, or failed: no cgroup but a file) does."""
    from pyrunc.cgroups import systemd as sdm
    transient = tmp_path / "transient"
    transient.mkdir()
    monkeypatch.setattr(sdm, "SYSTEM_TRANSIENT", str(transient))
    cg = tmp_path / "cg" / "x-1.scope"
    m = sdm.SystemdManager({"": str(cg)}, unit="x-1.scope", slice_="system.slice")
    assert m._unit_gone()
    (transient / "x-1.scope").write_text("[Scope]\n")  # failed: loaded, no cgroup
    assert not m._unit_gone()
    (transient / "x-1.scope").unlink()
    cg.mkdir(parents=True)  # a cgroup without a file: not what systemd leaves; ask it
    assert not m._unit_gone()
    cg.rmdir()
    transient.rmdir()  # no directory at all: nothing known, ask
    assert not m._unit_gone()
    mu = sdm.SystemdManager({"": str(cg)}, unit="x-1.scope", slice_="user.slice", user=True)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    assert not mu._unit_gone()
    (tmp_path / "systemd" / "transient").mkdir(parents=True)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert mu._unit_gone()

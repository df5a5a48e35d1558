"""linux.intelRdt's plan and its work on a resctrl filesystem, on a directory tree standing in
for one: this machine's CPUs have no RDT, so no resctrl can be mounted here (the real path is
the refusal, integration/test_errors.py).  The stand-in does what the kernel does at mkdir
and rmdir of a group (files made and removed with it); everything else is pyrunc's code."""

import os
import shutil

import pytest

from pyrunc import intelrdt
from pyrunc.errors import ConfigError, PyruncError


@pytest.fixture
def resctrl(tmp_path, monkeypatch):
    root = tmp_path / "resctrl"
    for d in ("info/L3", "info/MB", "info/L3_MON", "mon_groups"):
        (root / d).mkdir(parents=True)
    (root / "tasks").write_text("")
    (root / "schemata").write_text("L3:0=fffff;1=fffff\nMB:0=100;1=100\n")
    (root / "info" / "last_cmd_status").write_text("ok\n")
    def mkdir(path, mode=0o777):
        os.mkdir(path, mode)
        for f in ("schemata", "cpus"):
            open(os.path.join(path, f), "w").close()
        if os.path.basename(path) in BROKEN:
            os.mkdir(os.path.join(path, "tasks"))  # writing a pid to it fails (EISDIR)
        else:
            open(os.path.join(path, "tasks"), "w").close()
        if os.path.dirname(path) == str(root):  # a CTRL_MON group has MON groups
            os.mkdir(os.path.join(path, "mon_groups"))

    def rmdir(path):
        if not os.path.isdir(path):
            raise FileNotFoundError(path)
        shutil.rmtree(path)
    monkeypatch.setattr(intelrdt, "mkdir", mkdir)
    monkeypatch.setattr(intelrdt, "rmdir", rmdir)
    return str(root)


BROKEN = {"broken"}


def read(*p):
    with open(os.path.join(*p)) as f:
        return f.read()


def test_no_resctrl_is_an_error():
    with pytest.raises(ConfigError) as e:
        intelrdt.plan({"closID": "x"}, "c1", None)
    assert str(e.value) == ("config.json: linux.intelRdt is set, but Intel RDT is not enabled on this host "
                            "(no resctrl filesystem is mounted)")


@pytest.mark.parametrize("doc,words", [
    ({"closID": ".."}, "invalid closID '..'"),
    ({"closID": "a/b"}, "invalid closID 'a/b'"),
    ({"l3CacheSchema": "L3:0=f\nMB:0=1"}, "l3CacheSchema must not contain newlines"),
    ({"schemata": ["L2:0=f\n"]}, "schemata[0] must be a line"),
    ({"enableCMT": True}, "enableCMT was replaced by enableMonitoring"),
])
def test_bad_config(resctrl, doc, words):
    with pytest.raises(ConfigError) as e:
        intelrdt.plan(doc, "c1", resctrl)
    assert words in str(e.value)


@pytest.mark.parametrize("missing,doc,words", [
    ("L3", {"l3CacheSchema": "L3:0=f"}, "l3CacheSchema is set, but Intel RDT/CAT is not enabled"),
    ("MB", {"memBwSchema": "MB:0=50"}, "memBwSchema is set, but Intel RDT/MBA is not enabled"),
    ("L3_MON", {"enableMonitoring": True}, "resctrl monitoring is not enabled"),
])
def test_feature_missing_on_the_host(resctrl, missing, doc, words):
    os.rmdir(os.path.join(resctrl, "info", missing))
    with pytest.raises(ConfigError) as e:
        intelrdt.plan(doc, "c1", resctrl)
    assert words in str(e.value)


def test_group_named_after_the_container(resctrl):
    p = intelrdt.plan({"l3CacheSchema": "L3:0=ff", "memBwSchema": "MB:0=50", "schemata": ["L2:0=f", ""]},
                      "c1", resctrl)
    rec = intelrdt.apply(p, 4242)
    group = os.path.join(resctrl, "c1")
    # the spec's order: l3CacheSchema, memBwSchema, then the schemata lines
    assert read(group, "schemata") == "L3:0=ff\nMB:0=50\nL2:0=f\n"
    assert read(group, "tasks") == "4242"
    assert rec == {"root": resctrl, "group": group, "made": True, "mon": None}
    intelrdt.destroy(rec)
    assert not os.path.exists(group)


def test_existing_group_without_schemata_is_joined_and_kept(resctrl):
    p = intelrdt.plan({"closID": "shared"}, "c1", resctrl)
    with pytest.raises(PyruncError) as e:
        intelrdt.apply(p, 1)
    assert "the CLOS group 'shared' does not exist" in str(e.value)
    assert not os.path.exists(os.path.join(resctrl, "shared"))
    intelrdt.mkdir(os.path.join(resctrl, "shared"))
    rec = intelrdt.apply(p, 77)
    assert read(resctrl, "shared", "tasks") == "77" and read(resctrl, "shared", "schemata") == ""
    intelrdt.destroy(rec)
    assert os.path.isdir(os.path.join(resctrl, "shared"))  # a closID's group is never removed


def test_closid_with_schemata_made_but_not_removed(resctrl):
    rec = intelrdt.apply(intelrdt.plan({"closID": "gold", "l3CacheSchema": "L3:0=f0"}, "c1", resctrl), 5)
    assert read(resctrl, "gold", "schemata") == "L3:0=f0\n"
    intelrdt.destroy(rec)
    assert os.path.isdir(os.path.join(resctrl, "gold"))


def test_existing_closid_schemata_compared(resctrl):
    intelrdt.mkdir(os.path.join(resctrl, "gold"))
    with open(os.path.join(resctrl, "gold", "schemata"), "w") as f:
        f.write("    L3:0=000f0;1=fffff\n    MB:0= 70;1=100\n")
    # the same values written differently (leading zeros, spaces, another order): joined
    p = intelrdt.plan({"closID": "gold", "memBwSchema": "MB:0=70", "l3CacheSchema": "L3:1=fffff;0=f0"}, "c1", resctrl)
    intelrdt.apply(p, 9)
    assert read(resctrl, "gold", "tasks") == "9"
    p = intelrdt.plan({"closID": "gold", "l3CacheSchema": "L3:0=ff"}, "c2", resctrl)
    with pytest.raises(PyruncError) as e:
        intelrdt.apply(p, 10)
    assert "'gold' exists with other schemata (L3:0 differ)" in str(e.value)


def test_default_group(resctrl):
    rec = intelrdt.apply(intelrdt.plan({"closID": "/"}, "c1", resctrl), 12)
    assert read(resctrl, "tasks") == "12"
    intelrdt.destroy(rec)
    assert os.path.isdir(resctrl)


def test_monitoring_group(resctrl):
    intelrdt.mkdir(os.path.join(resctrl, "gold"))
    rec = intelrdt.apply(intelrdt.plan({"closID": "gold", "enableMonitoring": True}, "c1", resctrl), 31)
    mon = os.path.join(resctrl, "gold", "mon_groups", "c1")
    assert read(mon, "tasks") == "31" and rec["mon"] == mon
    intelrdt.destroy(rec)
    assert not os.path.exists(mon) and os.path.isdir(os.path.join(resctrl, "gold"))
    # a group of its own: the MON group goes with it
    rec = intelrdt.apply(intelrdt.plan({"enableMonitoring": True}, "c2", resctrl), 32)
    assert read(resctrl, "c2", "mon_groups", "c2", "tasks") == "32"
    intelrdt.destroy(rec)
    assert not os.path.exists(os.path.join(resctrl, "c2"))


def test_failure_undoes_what_it_made(resctrl):
    with open(os.path.join(resctrl, "info", "last_cmd_status"), "w") as f:
        f.write("Invalid pid 1234\n")
    with pytest.raises(PyruncError) as e:
        intelrdt.apply(intelrdt.plan({}, "broken", resctrl), 1234)
    assert "cannot add pid 1234" in str(e.value) and "(resctrl: Invalid pid 1234)" in str(e.value)
    assert not os.path.exists(os.path.join(resctrl, "broken"))


def test_update(resctrl):
    rec = intelrdt.apply(intelrdt.plan({"l3CacheSchema": "L3:0=ff"}, "c1", resctrl), 3)
    lines = intelrdt.update_lines(rec, "L3:0=f", "MB:0=30")
    intelrdt.write_lines(rec, lines)
    assert read(resctrl, "c1", "schemata") == "L3:0=f\nMB:0=30\n"
    with pytest.raises(PyruncError) as e:
        intelrdt.update_lines(None, "L3:0=f")
    assert "has no Intel RDT group" in str(e.value)
    os.rmdir(os.path.join(resctrl, "info", "MB"))
    with pytest.raises(PyruncError) as e:
        intelrdt.update_lines(rec, None, "MB:0=30")
    assert "Intel RDT/MBA is not enabled" in str(e.value)


def test_parse_schemata():
    assert intelrdt.parse_schemata("L3:0=0ff;1=f0\n MB:0=070;1=100\nL3DATA:0=f") == {
        "L3": {0: 0xff, 1: 0xf0}, "MB": {0: 70, 1: 100}, "L3DATA": {0: 0xf}}

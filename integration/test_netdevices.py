"""linux.netDevices (runtime-spec 1.3; runc 1.3, newer than the runc installed here, so the
kernel's view is the reference): a device of the runtime's network namespace moved into the
container's, renamed, with its permanent global addresses and up; gone from the runtime's side
while the container runs; never moved back by pyrunc (the kernel destroys a virtual device
with the container's namespace).

pyrunc runs in a sandbox network namespace (unshare --net) that holds a veth pair, so the
host's own links are never touched: this kernel has no dummy driver, veth is the virtual
device it has.
"""

import os
import re
import shutil

import pytest

pytestmark = pytest.mark.skipif(not shutil.which("unshare") or not shutil.which("ip"), reason="needs unshare, ip")

SANDBOX = """\
set -e
ip link add nd0 type veth peer name nd0peer
ip addr add 10.9.9.1/24 dev nd0
ip -6 addr add fd00:9::1/64 dev nd0 nodad
ip addr add 169.254.9.1/16 scope link dev nd0
set +e
"$@"
rc=$?
# a moved veth dies with the container's namespace, which the kernel frees a little later
if ! ip link show nd0 >/dev/null 2>&1; then
  for i in $(seq 50); do ip link show nd0peer >/dev/null 2>&1 || break; sleep 0.1; done
fi
ip -o link show > "$0.links"
exit $rc
"""


@pytest.fixture
def sandbox(env):
    """A wrap for env.pyrunc: the command runs in a new network namespace with the veth pair
    nd0/nd0peer; the links left there afterwards are in <script>.links."""
    script = env.tmp / "netsandbox.sh"
    script.write_text(SANDBOX)
    return f'exec unshare --net sh {script} "$@"', f"{script}.links"


def links(path):
    with open(path) as f:
        return sorted(re.findall(r"^\d+: ([^:@]+)", f.read(), re.M))


def with_devices(devices):
    return lambda c: c["linux"].update(netDevices=devices)


SHOW = ["sh", "-c", "ip -o link show; ip -o addr show"]


def test_moved_renamed_with_addresses_and_up(env, sandbox):
    wrap, left = sandbox
    r = env.pyrunc("run", "--bundle", env.bundle(SHOW, with_devices({"nd0": {"name": "ctr0"}})), env.new_id(),
                   wrap=wrap)
    assert r.rc == 0, r
    ctr0 = [l for l in r.out.splitlines() if " ctr0" in l]
    assert any(re.search(r"^\d+: ctr0@\S+: <[^>]*\bUP\b", l) for l in ctr0), r.out
    assert any("inet 10.9.9.1/24" in l for l in ctr0), r.out
    assert any("inet6 fd00:9::1/64" in l for l in ctr0), r.out
    # a link-scope address is not the device's to keep (runtime-spec: global scope only)
    assert "169.254.9.1" not in r.out, r.out
    assert " nd0" not in r.out
    # the container's namespace is gone, and the virtual device with it (and its peer): the
    # runtime did not move it back
    assert links(left) == ["lo"], links(left)


def test_name_kept_and_template(env, sandbox):
    wrap, _ = sandbox
    r = env.pyrunc("run", "--bundle", env.bundle(SHOW, with_devices({"nd0": {}})), env.new_id(), wrap=wrap)
    assert r.rc == 0 and re.search(r"^\d+: nd0@", r.out, re.M), r
    # "%d": the kernel picks the first free number inside
    r = env.pyrunc("run", "--bundle", env.bundle(SHOW, with_devices({"nd0": {"name": "eth%d"}})), env.new_id(),
                   wrap=wrap)
    assert r.rc == 0 and re.search(r"^\d+: eth0@.*\bUP\b", r.out, re.M) and "10.9.9.1/24" in r.out, r


def test_seen_by_exec_and_while_running_gone_from_the_runtime_side(env, sandbox):
    import subprocess

    from conftest import PYRUNC
    wrap, left = sandbox
    cid = env.new_id()
    b = env.bundle(["sleep", "1000"], with_devices({"nd0": {"name": "in0"}}))
    pyrunc = f"{PYRUNC} --root {env.root}"
    # the sandbox lives as long as its command: run the container there, look, then delete it
    # (the container's stdio not on this test's pipes)
    script = (f"{pyrunc} run -d --bundle {b} {cid} </dev/null >/dev/null 2>{env.tmp}/run.err && "
              f"{pyrunc} exec {cid} sh -c 'ip -o link show' && echo --- && ip -o link show; rc=$?; "
              f"{pyrunc} delete --force {cid}; cat {env.tmp}/run.err >&2; exit $rc")
    cp = subprocess.run(["sh", "-c", wrap, "sh", "sh", "-c", script], capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0, cp
    inside, _, outside = cp.stdout.partition("---")
    assert re.search(r"^\d+: in0@", inside, re.M), cp.stdout
    assert "nd0:" not in outside and "nd0peer" in outside, cp.stdout
    assert links(left) == ["lo"]
    assert env.leftovers() == []


@pytest.mark.parametrize("devices,words", [
    ({"nosuch0": {}}, ["linux.netDevices: nosuch0", "no such network device"]),
    ({"nd0": {"name": "lo"}}, ["linux.netDevices: nd0", "named 'lo' exists"]),
    ({"nd/0": {}}, ["linux.netDevices", "invalid network device name 'nd/0'"]),
    ({"nd0": {"name": "x" * 16}}, ["invalid network device name"]),
    ({"nd0": {"name": "a"}, "nd0peer": {"name": "a"}}, ["two devices would be named 'a'"]),
])
def test_refused_cleanly(env, sandbox, devices, words):
    wrap, left = sandbox
    r = env.pyrunc("run", "--bundle", env.bundle(["true"], with_devices(devices)), env.new_id(), wrap=wrap)
    assert r.rc != 0 and len(r.err.strip().splitlines()) == 1, r
    assert all(w in r.err for w in words), r.err
    assert env.leftovers() == []
    # a device that could not be moved stays where it was
    assert "nd0" in links(left)


def test_needs_a_network_namespace(env):
    def patch(c):
        c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "network"]
        c["linux"]["netDevices"] = {"eth0": {}}
    r = env.run(["true"], patch)
    assert r.rc != 0 and "linux.netDevices needs a network namespace" in r.err, r
    assert env.leftovers() == []


def test_features_say_so(env):
    import json
    r = env.pyrunc("features", root=False)
    assert json.loads(r.out)["linux"]["netDevices"] == {"enabled": True}


def test_pyroute2_only_for_a_config_with_devices(env):
    """The netlink library (~150 ms to import) is loaded by a config with netDevices only."""
    import subprocess
    import sys
    code = ("import json, sys; from pyrunc import config; "
            "config.build(json.load(open(sys.argv[1])), sys.argv[2]); print('pyroute2' in sys.modules)")
    b = env.bundle(["true"])
    cp = subprocess.run([sys.executable, "-I", "-c", code, os.path.join(b, "config.json"), b],
                        capture_output=True, text=True)
    assert cp.stdout.strip() == "False", cp

"""The Python API (pyrunc/api.py, docs/api.md): every example of docs/api.md runs; a long
loop of containers in one process leaves no descriptor, thread, zombie, subreaper flag or
memory growth; calls from several threads."""

import json
import os
import re
import subprocess
import sys
import threading

from conftest import make_rootfs

HERE = os.path.dirname(os.path.abspath(__file__))
DOC = os.path.join(os.path.dirname(HERE), "docs", "api.md")


def _examples():
    with open(DOC) as f:
        return re.findall(r"```python\n(.*?)```", f.read(), re.S)


def _leftovers(root):
    left = os.listdir(root) if os.path.isdir(root) else []
    for h in os.listdir("/sys/fs/cgroup"):
        for top in ("/sys/fs/cgroup/" + h, "/sys/fs/cgroup"):
            if os.path.isdir(top + "/pyrunc-example"):
                left.append(top + "/pyrunc-example")
    return left


def test_doc_examples(tmp_path):
    """One after the other (they share the /pyrunc-example cgroup parent), each in a process
    of its own: an example must not depend on, or change, pytest's process."""
    rootfs = str(tmp_path / "rootfs")
    make_rootfs(rootfs)
    root = str(tmp_path / "state")
    examples = _examples()
    assert len(examples) >= 4
    try:
        for n, code in enumerate(examples):
            script = f"rootfs = {rootfs!r}\nroot = {root!r}\n" + code
            r = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True, timeout=120)
            assert r.returncode == 0, f"example {n} of docs/api.md failed:\n{code}\n{r.stderr[-3000:]}"
            assert not _leftovers(root), (n, _leftovers(root))
    finally:
        pyrunc = os.path.join(os.path.dirname(sys.executable), "pyrunc")
        for cid in (os.listdir(root) if os.path.isdir(root) else []):
            subprocess.run([pyrunc, "--root", root, "delete", "--force", cid], capture_output=True)


LOOP = r"""
import gc, json, os, sys, threading
import pyrunc

rootfs, root, tag, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

def fds():
    return sorted(os.listdir("/proc/self/fd"))

def rss_kib():
    with open("/proc/self/status") as f:
        return int(next(l for l in f if l.startswith("VmRSS:")).split()[1])

def children():
    me, out = str(os.getpid()), []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/stat") as f:
                    if f.read().rpartition(")")[2].split()[1] == me:
                        out.append(p)
            except OSError:
                pass
    return out

def subreaper():
    import ctypes
    flag = ctypes.c_int(0)
    ctypes.CDLL(None).prctl(37, ctypes.byref(flag), 0, 0, 0)
    return flag.value

cfg = pyrunc.spec(["sh", "-c", "exit $(( $(cat /proc/self/stat | cut -d' ' -f1) % 3 ))"])
cfg["root"]["path"] = rootfs
cfg["process"]["terminal"] = False

def one(i):
    cfg["linux"]["cgroupsPath"] = f"/pyrunc-api-{tag}/{i}"
    with pyrunc.Container.create(f"loop-{tag}-{i}", spec=cfg, root=root) as c:
        c.start()
        code = c.wait()
        assert code in (0, 1, 2), code

for i in range(20):  # warm up: imports, caches
    one(i)
gc.collect()
before = {"fds": fds(), "threads": threading.active_count(), "rss": rss_kib()}
for i in range(20, 20 + n):
    one(i)
gc.collect()
after = {"fds": fds(), "threads": threading.active_count(), "rss": rss_kib()}
print(json.dumps({"before": before, "after": after, "children": children(), "subreaper": subreaper(),
                  "left": os.listdir(root)}))
"""


def test_many_containers_in_one_process_leak_nothing(tmp_path):
    """N containers (300 here; PYRUNC_API_LOOP=1000 for the documented run) created, started,
    waited for and deleted by one process: nothing left on it."""
    n = int(os.environ.get("PYRUNC_API_LOOP", "300"))
    rootfs = str(tmp_path / "rootfs")
    make_rootfs(rootfs)
    root = str(tmp_path / "state")
    tag = os.urandom(4).hex()
    r = subprocess.run([sys.executable, "-I", "-c", LOOP, rootfs, root, tag, str(n)], capture_output=True, text=True,
                       timeout=60 + n)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout)
    print(f"{n} containers: rss {res['before']['rss']} -> {res['after']['rss']} KiB")
    assert res["after"]["fds"] == res["before"]["fds"]
    assert res["after"]["threads"] == res["before"]["threads"] == 1
    assert res["children"] == [] and res["subreaper"] == 0 and res["left"] == []
    assert res["after"]["rss"] - res["before"]["rss"] < 4096, res  # KiB: flat, not per container
    for h in os.listdir("/sys/fs/cgroup"):
        assert not os.path.exists(f"/sys/fs/cgroup/{h}/pyrunc-api-{tag}")


def test_threads(tmp_path):
    """Containers run from several threads at once, and one container's exec called from
    several threads (its calls run one at a time)."""
    import pyrunc
    rootfs = str(tmp_path / "rootfs")
    make_rootfs(rootfs)
    root = str(tmp_path / "state")
    tag = os.urandom(4).hex()
    errors = []

    def cfg_for(args, name):
        cfg = pyrunc.spec(args)
        cfg["root"]["path"] = rootfs
        cfg["process"]["terminal"] = False
        cfg["linux"]["cgroupsPath"] = f"/pyrunc-api-{tag}/{name}"
        return cfg

    def worker(w):
        try:
            for i in range(5):
                name = f"t{w}-{i}"
                assert pyrunc.run(f"{tag}-{name}", spec=cfg_for(["sh", "-c", f"exit {w}"], name), root=root) == w
        except BaseException as e:  # noqa: B036 -- reported by the main thread
            errors.append(e)

    def in_threads(fn, n):
        ts = [threading.Thread(target=fn, args=(i,)) for i in range(n)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(timeout=120)

    try:
        in_threads(worker, 4)
        with pyrunc.Container.create(f"{tag}-shared", spec=cfg_for(["sleep", "100"], "shared"), root=root) as c:
            c.start()

            def exec_worker(w):
                try:
                    for _ in range(3):
                        out, _, code = c.exec(["sh", "-c", f"echo {w}"], capture=True)
                        assert (out, code) == (f"{w}\n", 0), (out, code)
                except BaseException as e:  # noqa: B036
                    errors.append(e)
            in_threads(exec_worker, 4)
    finally:
        pyrunc_bin = os.path.join(os.path.dirname(sys.executable), "pyrunc")
        for cid in (os.listdir(root) if os.path.isdir(root) else []):
            subprocess.run([pyrunc_bin, "--root", root, "delete", "--force", cid], capture_output=True)
    assert not errors, errors
    assert os.listdir(root) == []
    # each container's cgroup is gone; their shared parent, made by whichever came first, is
    # left when a sibling still held it at that one's delete (runc never removes parents)
    for h in os.listdir("/sys/fs/cgroup"):
        parent = f"/sys/fs/cgroup/{h}/pyrunc-api-{tag}"
        if os.path.isdir(parent):
            assert [d for d in os.listdir(parent) if os.path.isdir(os.path.join(parent, d))] == [], parent
            os.rmdir(parent)

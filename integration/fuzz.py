"""Mutated configs run on pyrunc: no traceback, one line or success, nothing left behind.

A seeded generator takes runc's default config (`pyrunc spec`, terminal off, process `true`)
and changes one to four things at random: a field removed, a value of another type or out
of range, strings with NUL bytes, lone surrogates, `..`, thousands of characters; lists
emptied, duplicated or grown; mounts, devices, hooks, namespaces, rlimits, sysctls and
resources added with random contents.  Each config is run with `pyrunc run` (a timeout
catches a hang), and the outcome must be one of:

- success (the container ran `true`);
- failure with exactly one line on stderr, `pyrunc: ...`, and no traceback;

and after `delete --force`, the test's state directory, cgroups and mounts must be gone.

What the generator never does, so that a case cannot touch the host: point root.path, a
hook or a bind source at a host program or file of consequence, or make cgroupsPath relative
(the container's cgroup is always under the run's own absolute parent).

    python integration/fuzz.py --cases 3200 [--seed N]     (as root, after scripts/setup.sh)

prints the figures (cases, successes, refusals, tracebacks, hangs, leaks) that
docs/security.md quotes.  integration/test_fuzz.py runs a few hundred cases in the suite.
"""

import copy
import json
import os
import random
import subprocess
import sys
import tempfile

STRINGS = ["", "/", ".", "..", "../../..", "/../../etc", "a\0b", "\0", "A=\ud800", "\udfff", "é☃",
           "x" * 5000, "/proc/self/fd/3", "/proc/1/root", "-", "--help", "$(id)", "a b", "\n", "%s%n",
           "RLIMIT_NOFILE", "CAP_SYS_ADMIN", "CAP_NOPE", "SCMP_ACT_ALLOW", "rbind", "ro", "nosuid",
           "/dev/null", "/dev/zero", "/nonexistent", "relative/path"]
INTS = [0, 1, -1, 7, 255, 1024, 65535, 65536, 2147483647, 2147483648, 4294967295, 4294967296,
        2 ** 63 - 1, 2 ** 63, 2 ** 64, -(2 ** 63), 10 ** 30]
NS_TYPES = ["mount", "uts", "ipc", "pid", "network", "cgroup", "time", "user", "nope"]


class Gen:
    def __init__(self, seed):
        self.rnd = random.Random(seed)

    def value(self, depth=0):
        r = self.rnd.random()
        if r < 0.1:
            return None
        if r < 0.2:
            return self.rnd.choice([True, False])
        if r < 0.45:
            return self.rnd.choice(INTS)
        if r < 0.5:
            return self.rnd.choice([0.5, -1.5, 1e300])
        if r < 0.8 or depth > 2:
            return self.rnd.choice(STRINGS)
        if r < 0.9:
            return [self.value(depth + 1) for _ in range(self.rnd.randint(0, 3))]
        return {self.rnd.choice(STRINGS + ["type", "path", "source"]): self.value(depth + 1)
                for _ in range(self.rnd.randint(0, 3))}

    def paths(self, doc, prefix=()):
        """Every (container, key) in doc, to mutate one."""
        out = []
        if isinstance(doc, dict):
            for k, v in doc.items():
                out.append((doc, k))
                out += self.paths(v, prefix + (k,))
        elif isinstance(doc, list):
            for i, v in enumerate(doc):
                out.append((doc, i))
                out += self.paths(v, prefix + (i,))
        return out

    def additions(self, cfg):
        """Add one thing a config may have, with random contents (to a list or an object
        that an earlier mutation has not turned into something else)."""
        rnd = self.rnd
        proc = cfg["process"] if isinstance(cfg.get("process"), dict) else {}
        linux = cfg["linux"]

        def grow(d, key, kind):
            v = d.get(key)
            if v is None:
                v = d[key] = kind()
            return v if isinstance(v, kind) else kind()  # a detached one: the addition is lost
        choice = rnd.randrange(9)
        if choice == 0:
            grow(cfg, "mounts", list).append({
                                  "destination": rnd.choice(STRINGS + ["/mnt", "/proc", "/dev/x", "/sys/y"]),
                                  "type": rnd.choice(["tmpfs", "proc", "sysfs", "bind", "none", "nope",
                                                      rnd.choice(STRINGS)]),
                                  "source": rnd.choice(["tmpfs", "proc", "/nonexistent", "", rnd.choice(STRINGS)]),
                                  "options": rnd.sample(["ro", "rw", "rbind", "bind", "nosuid", "mode=1777",
                                                         "size=1k", "tmpcopyup", "idmap", "rro", "nope",
                                                         "rprivate", "shared"], rnd.randint(0, 4))})
        elif choice == 1:
            grow(linux, "devices", list).append({
                "path": rnd.choice(["/dev/x", "/dev/../x", "/dev/null", "x", rnd.choice(STRINGS)]),
                "type": rnd.choice(["c", "b", "p", "u", "z", ""]), "major": rnd.choice(INTS),
                "minor": rnd.choice(INTS), "fileMode": rnd.choice(INTS), "uid": rnd.choice(INTS),
                "gid": rnd.choice(INTS)})
        elif choice == 2:
            kind = rnd.choice(["prestart", "createRuntime", "createContainer", "startContainer",
                               "poststart", "poststop", "nope"])
            grow(grow(cfg, "hooks", dict), kind, list).append({
                "path": rnd.choice(["/bin/true", "/bin/false", "/nonexistent", "", "relative",
                                    rnd.choice(STRINGS)]),
                "args": rnd.choice([["true"], [], [rnd.choice(STRINGS)]]),
                "env": rnd.choice([None, ["A=b"], [rnd.choice(STRINGS)]]),
                "timeout": rnd.choice([None, 0, 1, -1, rnd.choice(INTS)])})
        elif choice == 3:
            nss = grow(linux, "namespaces", list)
            if nss and rnd.random() < 0.5:
                nss.pop(rnd.randrange(len(nss)))
            else:
                ns = {"type": rnd.choice(NS_TYPES)}
                if rnd.random() < 0.3:
                    ns["path"] = rnd.choice(["/proc/self/ns/net", "/nonexistent", "", rnd.choice(STRINGS)])
                nss.append(ns)
        elif choice == 4:
            grow(proc, "rlimits", list).append({
                "type": rnd.choice(["RLIMIT_NOFILE", "RLIMIT_STACK", "RLIMIT_AS", "RLIMIT_NPROC",
                                    "RLIMIT_NOPE", "rlimit_core", rnd.choice(STRINGS)]),
                "soft": rnd.choice(INTS), "hard": rnd.choice(INTS)})
        elif choice == 5:
            grow(linux, "sysctl", dict)[rnd.choice(["net.ipv4.ip_forward", "kernel.shmmax",
                                                       "kernel.panic", "fs.mqueue.queues_max",
                                                       rnd.choice(STRINGS)])] = rnd.choice(STRINGS + ["1"])
        elif choice == 6:
            res = grow(linux, "resources", dict)
            key = rnd.choice(["memory", "cpu", "pids", "blockIO", "unified", "hugepageLimits",
                              "devices", "network", "rdma"])
            if key == "memory":
                res[key] = {rnd.choice(["limit", "reservation", "swap", "swappiness", "kernel"]):
                            rnd.choice(INTS)}
            elif key == "cpu":
                res[key] = {rnd.choice(["shares", "quota", "period", "cpus", "mems", "idle"]):
                            rnd.choice(INTS + STRINGS)}
            elif key == "pids":
                res[key] = {"limit": rnd.choice(INTS)}
            elif key == "unified":
                res[key] = {rnd.choice(["memory.max", "pids.max", "cgroup.procs", "x", "a/b",
                                        rnd.choice(STRINGS)]): rnd.choice(STRINGS + ["1"])}
            elif key == "devices":
                grow(res, key, list).append({"allow": rnd.choice([True, False, None]),
                                                "type": rnd.choice(["a", "c", "b", "x"]),
                                                "access": rnd.choice(["rwm", "r", "q", ""])})
            else:
                res[key] = self.value()
        elif choice == 7:
            user = grow(proc, "user", dict)
            user[rnd.choice(["uid", "gid", "umask", "additionalGids"])] = rnd.choice(
                INTS + [[rnd.choice(INTS)]])
        else:
            grow(linux, "maskedPaths" if rnd.random() < 0.5 else "readonlyPaths", list).append(
                rnd.choice(STRINGS + ["/proc/kcore", "/sys/x", "/etc"]))

    def config(self, base, cgroups_path):
        cfg = copy.deepcopy(base)
        for _ in range(self.rnd.randint(1, 4)):
            r = self.rnd.random()
            if r < 0.7:
                self.additions(cfg)
                continue
            r = 0.45 + (r - 0.7) / 0.3 * 0.55  # the same mix of removals and new values
            spots = [(c, k) for c, k in self.paths(cfg)
                     if k not in ("linux", "root", "cgroupsPath") and c is not cfg.get("root")]
            c, k = self.rnd.choice(spots)
            if r < 0.6:
                del c[k]
            elif r < 0.7 and isinstance(c, list):
                c.append(copy.deepcopy(c[k]))
            else:
                c[k] = self.value()
        # what keeps a case off the host: the rootfs and the cgroup are the run's own
        cfg["linux"]["cgroupsPath"] = cgroups_path
        proc = cfg.get("process")
        if isinstance(proc, dict) and isinstance(proc.get("args"), list) and proc["args"]:
            if proc["args"][0] not in STRINGS:
                proc["args"][0] = "true"  # never another program of the rootfs
        return cfg


def base_config(rootfs):
    from pyrunc.commands.spec import default_spec
    cfg = default_spec()
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = ["true"]
    cfg["root"]["path"] = rootfs
    return cfg


def to_json(cfg):
    """JSON of a config that may hold lone surrogates (written as \\ud800 escapes)."""
    return json.dumps(cfg, ensure_ascii=True)


class Outcome:
    """What the cases gave (ran: `pyrunc run` printed no error, whatever the program's exit)."""

    def __init__(self):
        self.cases = self.ok = self.refused = self.tracebacks = self.hangs = self.leaks = 0
        self.bad = []

    def __str__(self):
        other = len(self.bad) - self.tracebacks - self.hangs - self.leaks
        return (f"cases {self.cases}: ran {self.ok}, refused with one line {self.refused}, "
                f"tracebacks {self.tracebacks}, hangs {self.hangs}, other bad output {other}, "
                f"left behind {self.leaks}")


def run_case(pyrunc, root, bundle, cid, cfg, timeout=30):
    """(rc, stderr) of `pyrunc run` of cfg; rc None on a timeout (the run is killed)."""
    with open(os.path.join(bundle, "config.json"), "w") as f:
        f.write(to_json(cfg))
    with tempfile.TemporaryFile("w+") as err:
        p = subprocess.Popen([pyrunc, "--root", root, "run", "--bundle", bundle, cid],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        try:
            rc = p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            rc = None
        err.seek(0)
        return rc, err.read()


def judge(rc, err):
    """None when the outcome is allowed, else why not: warnings are lines of their own
    (`pyrunc: warning: ...`); a success has nothing else, a failure exactly one error line."""
    if "Traceback" in err:
        return "traceback"
    if rc is None:
        return "hang"
    lines = [line for line in err.splitlines() if not line.startswith("pyrunc: warning: ")]
    if not lines:
        return None  # ran: rc is the program's (a limit it could not live under: 139)
    if len(lines) == 1 and lines[0].startswith("pyrunc: "):
        return None
    return "not one line"


def main(argv=None):
    import argparse
    import shutil
    import uuid
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, default=3200)
    ap.add_argument("--seed", type=int, default=16)
    a = ap.parse_args(argv)
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    from conftest import PYRUNC, make_rootfs
    work = tempfile.mkdtemp(prefix="pyrunc-fuzz-")
    os.chmod(work, 0o755)
    tag = uuid.uuid4().hex[:8]
    parent = f"/pyrunc-fuzz-{tag}"
    rootfs = os.path.join(work, "rootfs")
    make_rootfs(rootfs)
    bundle = os.path.join(work, "bundle")
    os.mkdir(bundle)
    root = os.path.join(work, "state")
    gen = Gen(a.seed)
    base = base_config(rootfs)
    out = Outcome()
    try:
        for i in range(a.cases):
            cid = f"f{i}"
            cfg = gen.config(base, f"{parent}/{i}")
            rc, err = run_case(PYRUNC, root, bundle, cid, cfg)
            out.cases += 1
            why = judge(rc, err)
            if why is None:
                refused = any(not line.startswith("pyrunc: warning: ") for line in err.splitlines())
                out.ok += not refused
                out.refused += refused
            else:
                out.tracebacks += why == "traceback"
                out.hangs += why == "hang"
                out.bad.append((i, why, err[-300:]))
            subprocess.run([PYRUNC, "--root", root, "delete", "--force", cid], capture_output=True, timeout=60)
            left = leftovers(root, parent, work)
            if left:
                out.leaks += 1
                out.bad.append((i, "left behind", left))
                cleanup(parent)
            if (i + 1) % 200 == 0:
                print(f"... {out}", flush=True)
    finally:
        cleanup(parent)
        shutil.rmtree(work, ignore_errors=True)
    print(out)
    for b in out.bad[:20]:
        print("  case", *b)
    return 1 if out.bad else 0


def leftovers(root, parent, work):
    left = []
    if os.path.isdir(root) and os.listdir(root):
        left.append(f"state {os.listdir(root)}")
    for d in cgroup_dirs(parent):
        subs = [s for s in os.listdir(d) if os.path.isdir(os.path.join(d, s))]
        if subs:
            left.append(f"cgroups {d}: {subs}")
    with open("/proc/self/mountinfo") as f:
        mounts = [line.split()[4] for line in f if work in line]
    if mounts:
        left.append(f"mounts {mounts}")
    return left


def cgroup_dirs(parent):
    dirs = [f"/sys/fs/cgroup/{h}{parent}" for h in os.listdir("/sys/fs/cgroup")]
    dirs.append(f"/sys/fs/cgroup{parent}")
    return [d for d in dirs if os.path.isdir(d)]


def cleanup(parent):
    from conftest import _kill_and_rmdir
    for d in cgroup_dirs(parent):
        for sub in sorted((os.path.join(r, n) for r, ds, _ in os.walk(d) for n in ds), key=len, reverse=True):
            _kill_and_rmdir(sub)
        _kill_and_rmdir(d)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""pyrunc against runc (and crun where it runs), side by side, in one run.

    bench/run [--rounds N] [--json FILE] [--only CASE,...]

Every case is measured for all runtimes interleaved (A B C A B C ...), so that drift of this
shared machine hits them alike; medians, min/max and the ratio pyrunc/runc are printed and
written as JSON (default bench/results/latest.json).

crun refuses this host's hybrid cgroups.  Unless --host-layout is given, the whole benchmark
re-executes itself in a private mount namespace where the cgroup2 mount is unmounted (the
host is untouched), so that all runtimes see the same cgroup v1 layout and crun can run.

Cases (see issue 7 and docs/performance.md):
  run          `run` of a busybox bundle running `true` (whole process, wall time)
  lifecycle    create + start + delete as separate processes, as engines call them
  exec         exec of `true` into a running container
  state, kill  `state` and `kill CONT` of a running container
  memory       peak memory charged to the container's memory cgroup for `sleep 1`
  minlimit     the smallest memory limit (v1 memory.limit_in_bytes) under which `true` runs
  many         100 containers run one after the other; 20 created concurrently
  podman       podman run --rm --network none IMG true (conmon), where podman is installed
  ctr          ctr run --rm --runc-binary RUNTIME IMG id true (containerd), where installed

--systemd-cgroup gives every call that flag and every bundle a cgroupsPath
`system.slice:bench-RUNTIME:N` (a transient scope): where systemd runs, e.g. in the systemd VM
(bench/systemd-vm boots one and runs run, lifecycle, exec, state and kill there).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CGROOT = "/sys/fs/cgroup"
PARENT = f"/pyrunc-bench-{os.getpid()}"
CASES = ["run", "lifecycle", "exec", "state", "kill", "memory", "minlimit", "many", "podman", "ctr"]


def runtimes():
    out = {"pyrunc": os.path.join(REPO, ".venv", "bin", "pyrunc")}
    for name in ("runc", "crun"):
        path = shutil.which(name)
        if path:
            out[name] = path
    if not os.path.exists(out["pyrunc"]):
        sys.exit("bench: .venv/bin/pyrunc is missing: run scripts/setup.sh first")
    return out


def run_blocking(argv, stderr=subprocess.DEVNULL, timeout=120, env=None):
    """Run argv and wait for it in a blocking waitpid.  Not subprocess.run(timeout=...):
    with a timeout, Popen.wait polls with sleeps that double from 0.5 ms up to 50 ms, so
    every time it measures snaps to about 8, 16, 32 or 64 ms.  A timer kills a hung call."""
    import threading
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr, env=env)
    timer = threading.Timer(timeout, p.kill)
    timer.start()
    try:
        return p.wait()
    finally:
        timer.cancel()


class Bench:
    def __init__(self, rts, work, systemd=False):
        self.rts = rts
        self.systemd = systemd
        self.work = work
        self.n = 0
        self.rootfs = os.path.join(work, "rootfs")
        sys.path.insert(0, REPO)
        from pyrunc.demo import make_rootfs
        make_rootfs(self.rootfs)
        self.roots = {name: os.path.join(work, f"state-{name}") for name in rts}

    def bundle(self, args, cgpath):
        """A bundle whose config is runc's default (ociVersion 1.0.2: crun 1.8 knows no later)."""
        from pyrunc.commands.spec import default_spec
        self.n += 1
        b = os.path.join(self.work, f"b{self.n}")
        os.mkdir(b)
        cfg = default_spec()
        cfg["ociVersion"] = "1.0.2"
        cfg["process"]["terminal"] = False
        cfg["process"]["args"] = args
        cfg["root"]["path"] = self.rootfs
        cfg["linux"]["cgroupsPath"] = cgpath
        with open(os.path.join(b, "config.json"), "w") as f:
            json.dump(cfg, f)
        return b

    def cg(self, rt, tag):
        self.n += 1
        if self.systemd:
            return f"system.slice:bench-{rt}:{tag}-{self.n}"
        return f"{PARENT}/{rt}-{tag}-{self.n}"

    def call(self, rt, *args, check=True):
        # stderr through a file: a created container inherits it, a pipe would never end
        with tempfile.TemporaryFile() as err:
            flags = ["--systemd-cgroup"] if self.systemd else []
            rc = run_blocking([self.rts[rt], "--root", self.roots[rt], *flags] + list(args), stderr=err)
            if check and rc != 0:
                err.seek(0)
                raise RuntimeError(f"{rt} {' '.join(args)}: exit {rc}: {err.read().decode().strip()}")
        return rc

    def timed(self, rt, *args):
        t = time.perf_counter()
        self.call(rt, *args)
        return (time.perf_counter() - t) * 1000

    def cid(self, rt):
        self.n += 1
        return f"bench-{rt}-{self.n}"

    # ----- cases: each returns {runtime: [samples]} or {runtime: "reason"} -----
    def interleave(self, rounds, fn):
        res = {rt: [] for rt in self.rts}
        for _ in range(rounds):
            for rt in self.rts:
                if isinstance(res[rt], str):
                    continue
                try:
                    res[rt].append(fn(rt))
                except NotImplementedError as e:
                    res[rt] = str(e)
                except RuntimeError as e:
                    res[rt] = f"failed: {e}"
        return res

    def case_run(self, rounds):
        bundles = {rt: self.bundle(["true"], self.cg(rt, "run")) for rt in self.rts}
        return self.interleave(rounds, lambda rt: self.timed(rt, "run", "--bundle", bundles[rt], self.cid(rt)))

    def case_lifecycle(self, rounds):
        bundles = {rt: self.bundle(["true"], self.cg(rt, "life")) for rt in self.rts}

        def one(rt):
            cid = self.cid(rt)
            t = time.perf_counter()
            self.call(rt, "create", "--bundle", bundles[rt], cid)
            self.call(rt, "start", cid)
            self.call(rt, "delete", "--force", cid)
            return (time.perf_counter() - t) * 1000
        return self.interleave(rounds, one)

    def _running(self, tag):
        out = {}
        for rt in self.rts:
            cid = self.cid(rt)
            self.call(rt, "run", "--detach", "--bundle", self.bundle(["sleep", "1000"], self.cg(rt, tag)), cid)
            out[rt] = cid
        return out

    def _stop(self, cids):
        for rt, cid in cids.items():
            self.call(rt, "delete", "--force", cid, check=False)

    def case_exec(self, rounds):
        cids = self._running("exec")
        try:
            return self.interleave(rounds, lambda rt: self.timed(rt, "exec", cids[rt], "true"))
        finally:
            self._stop(cids)

    def case_state(self, rounds):
        cids = self._running("state")
        try:
            return self.interleave(rounds, lambda rt: self.timed(rt, "state", cids[rt]))
        finally:
            self._stop(cids)

    def case_kill(self, rounds):
        cids = self._running("kill")
        try:
            return self.interleave(rounds, lambda rt: self.timed(rt, "kill", cids[rt], "CONT"))
        finally:
            self._stop(cids)

    def _peak(self, rt, args, limit=None):
        """Run args in a fresh cgroup (optionally with a memory limit made beforehand);
        returns (exit status, peak bytes)."""
        cgpath = self.cg(rt, "mem")
        mem = CGROOT + "/memory" + cgpath
        if limit is not None:
            os.makedirs(mem)
            with open(os.path.join(mem, "memory.limit_in_bytes"), "w") as f:
                f.write(str(limit))
        cid = self.cid(rt)
        rc = self.call(rt, "create", "--bundle", self.bundle(args, cgpath), cid, check=False)
        if rc != 0:
            self.call(rt, "delete", "--force", cid, check=False)
            return rc, None
        self.call(rt, "start", cid)
        for _ in range(3000):
            r = subprocess.run([self.rts[rt], "--root", self.roots[rt], "state", cid], capture_output=True)
            if r.returncode or json.loads(r.stdout).get("status") == "stopped":
                break
            time.sleep(0.005)
        with open(os.path.join(mem, "memory.max_usage_in_bytes")) as f:
            peak = int(f.read())
        failcnt = int(open(os.path.join(mem, "memory.failcnt")).read())
        self.call(rt, "delete", "--force", cid, check=False)
        return (0 if failcnt == 0 else 1), peak

    def case_memory(self, rounds):
        def one(rt):
            rc, peak = self._peak(rt, ["sleep", "1"])
            if rc:
                raise RuntimeError("container failed")
            return peak / 1024
        return self.interleave(max(3, rounds // 5), one)

    def case_minlimit(self, rounds):
        """Bisect in 64 KiB steps between 128 KiB and 16 MiB: the smallest limit where `true` exits 0."""
        out = {}
        for rt in self.rts:
            lo, hi = 2, 256  # in 64 KiB units; hi works, lo fails (checked below)
            if self._exit_under(rt, hi * 65536) != 0:
                out[rt] = "failed even under 16 MiB"
                continue
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if self._exit_under(rt, mid * 65536) == 0:
                    hi = mid
                else:
                    lo = mid
            out[rt] = [hi * 64]
        return out

    def _exit_under(self, rt, limit):
        cgpath = self.cg(rt, "lim")
        mem = CGROOT + "/memory" + cgpath
        os.makedirs(mem)
        with open(os.path.join(mem, "memory.limit_in_bytes"), "w") as f:
            f.write(str(limit))
        cid = self.cid(rt)
        r = subprocess.run([self.rts[rt], "--root", self.roots[rt], "run", "--bundle",
                            self.bundle(["true"], cgpath), cid],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
        self.call(rt, "delete", "--force", cid, check=False)
        return r.returncode

    def case_many(self, rounds):
        """100 runs one after the other (the time per run of the first and the second 50
        shows whether it grows), then 10 and 20 creates at once (total time, failures)."""
        out = {}
        for rt in self.rts:
            b = self.bundle(["true"], self.cg(rt, "many"))
            failures = 0
            halves = []
            for _ in range(2):
                t = time.perf_counter()
                for _ in range(50):
                    failures += self.call(rt, "run", "--bundle", b, self.cid(rt), check=False) != 0
                halves.append((time.perf_counter() - t) * 1000)
            res = {"100 sequential runs (ms)": round(sum(halves), 1), "failures": failures,
                   "ms per run, runs 1-50": round(halves[0] / 50, 1),
                   "ms per run, runs 51-100": round(halves[1] / 50, 1)}
            for n in (10, 20):
                ids = [self.cid(rt) for _ in range(n)]
                bundles = [self.bundle(["true"], self.cg(rt, "conc")) for _ in ids]
                t = time.perf_counter()
                ps = [subprocess.Popen([self.rts[rt], "--root", self.roots[rt], "create", "--bundle", bb, cid],
                                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
                      for bb, cid in zip(bundles, ids)]
                cfail = sum(p.wait() != 0 for p in ps)
                res[f"{n} concurrent creates (ms)"] = round((time.perf_counter() - t) * 1000, 1)
                res[f"{n} concurrent: failures"] = cfail
                for cid in ids:
                    self.call(rt, "delete", "--force", cid, check=False)
            out[rt] = res
        return out

    def _engine(self, name, commands):
        """The tests' engine sandbox (integration/engines.py): private configuration, mount
        and network namespace, cgroups under /pyrunc-eng-<tag>."""
        missing = [c for c in commands if not shutil.which(c)]
        if missing:
            return None, {rt: f"skipped: {', '.join(missing)} not installed "
                              "(scripts/setup.sh --engines)" for rt in self.rts}
        sys.path.insert(0, os.path.join(REPO, "integration"))
        tmp = os.path.join(self.work, name)
        os.makedirs(tmp)
        return tmp, None

    def _engine_call(self, argv, env=None):
        with tempfile.TemporaryFile() as err:
            t = time.perf_counter()
            rc = run_blocking(argv, stderr=err, env=env)
            ms = (time.perf_counter() - t) * 1000
            if rc != 0:
                err.seek(0)
                raise RuntimeError(f"exit {rc}: {err.read().decode().strip()[-300:]}")
        return ms

    def case_podman(self, rounds):
        """podman run --rm --network none IMG true, each runtime given by path."""
        tmp, skipped = self._engine("podman", ("podman", "conmon"))
        if skipped:
            return skipped
        import test_podman as tp

        from engines import image_tar
        p = tp.Podman("pyrunc", tmp)
        try:
            p.ok("import", "--quiet", image_tar(os.path.join(tmp, "image.tar"), tmp), tp.IMAGE)
            return self.interleave(rounds, lambda rt: self._engine_call(p.argv(
                ["--runtime", self.rts[rt], "run", "--pull", "never", "--rm", "--network", "none",
                 "--cgroup-parent", p.cgparent, tp.IMAGE, "true"]), env=p.env))
        finally:
            p.close()

    def case_ctr(self, rounds):
        """ctr run --rm --runc-binary RUNTIME IMG id true (containerd 1.6, runc shim v2)."""
        tmp, skipped = self._engine("containerd", ("containerd", "ctr", "containerd-shim-runc-v2"))
        if skipped:
            return skipped
        import test_containerd as tc

        from engines import image_tar, oci_archive
        c = tc.Containerd("pyrunc", tmp)
        try:
            layer = image_tar(os.path.join(tmp, "layer.tar"), tmp)
            c.ok("images", "import", oci_archive(os.path.join(tmp, "image.tar"), layer, tc.IMAGE))
            return self.interleave(rounds, lambda rt: self._engine_call(c.argv(
                ["run", "--rm", "--runc-binary", self.rts[rt], tc.IMAGE, c.new_id(), "true"])))
        finally:
            c.close()


def summarize(name, res, unit):
    rows = []
    base = res.get("runc")
    for rt, v in res.items():
        if isinstance(v, str) or (isinstance(v, dict)):
            rows.append({"runtime": rt, "result": v})
            continue
        med = statistics.median(v)
        row = {"runtime": rt, "median": round(med, 2), "min": round(min(v), 2), "max": round(max(v), 2),
               "n": len(v), "unit": unit}
        if isinstance(base, list) and base and rt != "runc":
            row["ratio_to_runc"] = round(med / statistics.median(base), 2)
        rows.append(row)
    return {"case": name, "rows": rows}


def print_case(s):
    print(f"\n{s['case']}")
    for r in s["rows"]:
        if "median" in r:
            ratio = f"  x{r['ratio_to_runc']:.2f} of runc" if "ratio_to_runc" in r else ""
            print(f"  {r['runtime']:7} median {r['median']:9.2f} {r['unit']:4} "
                  f"(min {r['min']:.2f}, max {r['max']:.2f}, n={r['n']}){ratio}")
        else:
            print(f"  {r['runtime']:7} {r['result']}")


def cleanup_cgroups():
    for h in os.listdir(CGROOT):
        top = CGROOT + "/" + h + PARENT
        if not os.path.isdir(top):
            continue
        for sub in sorted((os.path.join(r, d) for r, ds, _ in os.walk(top) for d in ds), key=len, reverse=True):
            try:
                os.rmdir(sub)
            except OSError:
                pass
        try:
            os.rmdir(top)
        except OSError:
            pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--json", default=os.path.join(HERE, "results", "latest.json"))
    ap.add_argument("--only", default="")
    ap.add_argument("--host-layout", action="store_true", help="keep the host's cgroups (no crun)")
    ap.add_argument("--systemd-cgroup", action="store_true", help="systemd's cgroup driver (where systemd runs)")
    ap.add_argument("--in-namespace", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: run as root")
    if not a.host_layout and not a.in_namespace:
        # the whole benchmark in a private mount namespace without the cgroup2 mount
        inner = (f"umount {CGROOT}/unified 2>/dev/null; exec {sys.executable} {os.path.abspath(__file__)} "
                 f"--in-namespace " + " ".join(f"'{x}'" for x in sys.argv[1:]))
        os.execvp("unshare", ["unshare", "--mount", "--propagation", "private", "sh", "-c", inner])
    rts = runtimes()
    if a.host_layout or os.path.exists(f"{CGROOT}/unified/cgroup.procs"):
        rts.pop("crun", None)
    cases = [c for c in (a.only.split(",") if a.only else CASES)]
    print(f"runtimes: {', '.join(f'{k}={v}' for k, v in rts.items())}; rounds: {a.rounds}")
    results = []
    with tempfile.TemporaryDirectory(prefix="pyrunc-bench-") as work:
        b = Bench(rts, work, systemd=a.systemd_cgroup)
        try:
            for c in cases:
                unit = "KiB" if c in ("memory", "minlimit") else "ms"
                s = summarize(c, getattr(b, f"case_{c}")(a.rounds), unit)
                print_case(s)
                results.append(s)
        finally:
            for rt in rts:
                root = b.roots[rt]
                for cid in (os.listdir(root) if os.path.isdir(root) else []):
                    b.call(rt, "delete", "--force", cid, check=False)
            cleanup_cgroups()
    os.makedirs(os.path.dirname(a.json), exist_ok=True)
    with open(a.json, "w") as f:
        json.dump({"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "runtimes": rts,
                   "rounds": a.rounds, "results": results}, f, indent=2)
    print(f"\nwritten: {a.json}")


if __name__ == "__main__":
    main()

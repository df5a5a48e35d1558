"""python -m pyrunc.demo: run a container from a bundle made on the spot, show what it sees.

The bundle is the default config of `pyrunc spec` (terminal off) over a root filesystem of
one static busybox.  The container prints its pid, hostname, mounts and namespaces; the
demo then lists which namespaces differ from the host's.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

BUSYBOX = "/bin/busybox"
APPLETS = ["sh", "ls", "cat", "echo", "hostname", "readlink", "id", "grep", "sleep", "true"]

SCRIPT = r"""
echo "pid:      $$"
echo "hostname: $(hostname)"
echo "user:     $(id)"
echo "mounts:"
while read -r _ _ _ _ mnt opts _ ; do echo "  $mnt ($opts)"; done < /proc/self/mountinfo
echo "namespaces:"
for n in cgroup ipc mnt net pid time user uts; do echo "  $n $(readlink /proc/self/ns/$n)"; done
"""


def make_rootfs(rootfs, applets=APPLETS):
    """A root filesystem of one static busybox and its applet links (also used by tests)."""
    for d in ("bin", "proc", "sys", "dev", "etc", "tmp"):
        os.makedirs(os.path.join(rootfs, d), exist_ok=True)
    shutil.copy(BUSYBOX, os.path.join(rootfs, "bin", "busybox"))
    for a in applets:
        os.symlink("busybox", os.path.join(rootfs, "bin", a))
    with open(os.path.join(rootfs, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n")
    with open(os.path.join(rootfs, "etc", "group"), "w") as f:
        f.write("root:x:0:\nnogroup:x:65534:\n")


def make_bundle(where, args):
    from .commands.spec import default_spec
    make_rootfs(os.path.join(where, "rootfs"))
    cfg = default_spec()
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = args
    cfg["linux"]["cgroupsPath"] = f"/pyrunc-demo-{os.getpid()}"
    with open(os.path.join(where, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)


def main():
    if not os.path.exists(BUSYBOX):
        sys.exit("demo: /bin/busybox is missing: apt-get install busybox-static")
    pyrunc = os.path.join(os.path.dirname(sys.executable), "pyrunc")
    with tempfile.TemporaryDirectory(prefix="pyrunc-demo-") as tmp:
        bundle = os.path.join(tmp, "bundle")
        os.mkdir(bundle)
        make_bundle(bundle, ["sh", "-c", SCRIPT])
        cid = f"demo-{os.getpid()}"
        root = os.path.join(tmp, "state")
        print(f"$ {pyrunc} --root {root} run --bundle {bundle} {cid}")
        r = subprocess.run([pyrunc, "--root", root, "run", "--bundle", bundle, cid],
                           capture_output=True, text=True)
        sys.stdout.write(r.stdout)
        if r.returncode:
            sys.stderr.write(r.stderr)
            sys.exit(f"demo: the container failed (exit {r.returncode})")
        inside = {}
        for line in r.stdout.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1].endswith("]") and ":[" in parts[1]:
                inside[parts[0]] = parts[1]
        print("namespaces that differ from the host's:")
        for n, v in sorted(inside.items()):
            host = os.readlink(f"/proc/self/ns/{n}")
            print(f"  {n:7} {'new' if host != v else 'shared with the host'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env bash
# Install what pyrunc needs on a Debian machine, as root, and build it into .venv.
#   scripts/setup.sh          install (idempotent)
#   scripts/setup.sh --demo   install, then run the demo container
#   scripts/setup.sh --engines   also install podman and containerd (the engine tests; test.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "setup.sh: run as root (pyrunc creates namespaces, mounts and cgroups)" >&2
  exit 1
fi

# Debian packages: the compiler, make and headers for the C parts (csrc/Makefile) and the cffi
# module, clang-format (the test command checks the C style), a
# static busybox for test and demo root filesystems, libseccomp, runc to compare with, and
# ps(1) for `pyrunc ps`, newuidmap/newgidmap for rootless containers that map id ranges,
# apparmor_parser for the AppArmor tests (run in a VM whose kernel has AppArmor).
PKGS="gcc make libc6-dev binutils clang-format python3 python3-venv python3-dev libseccomp-dev busybox-static runc util-linux iproute2 procps uidmap apparmor"
# The engines that call pyrunc in integration/test_podman.py and test_containerd.py: podman
# with conmon and netavark (whose bridge network needs iptables), containerd with its runc shim.
if [ "${1:-}" = "--engines" ]; then
  PKGS="$PKGS podman conmon netavark iptables containerd"
fi
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "setup.sh: installing Debian packages:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq $missing >/dev/null
fi

# A virtual environment from Debian's own python3 (never a PATH-dependent interpreter:
# engines call pyrunc with almost no environment).
PY=/usr/bin/python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q ".[test]"
# replace pip's console script: .venv/bin/pyrunc becomes the C front, .venv/bin/pyrunc-py the
# Python runtime started without site (docs/architecture.md, docs/performance.md)
.venv/bin/python -I -m pyrunc.launcher >/dev/null
echo "setup.sh: pyrunc installed: $(.venv/bin/pyrunc --version | head -1) at $(pwd)/.venv/bin/pyrunc"

if [ "${1:-}" = "--demo" ]; then
  exec .venv/bin/python -m pyrunc.demo
fi

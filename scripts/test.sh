#!/usr/bin/env bash
# The whole test suite: set up (idempotent), then unit and integration tests, as root.
# integration/test_cgroup_v2_vm.py boots a pure cgroup v2 VM with ../shared/tools/v2vm
# (this host has hybrid cgroups); its one-time setup (QEMU, a Debian kernel) is done here.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --engines
# the engine tests fail, not skip, when podman or containerd is missing
export PYRUNC_REQUIRE_ENGINES=1
# the non-root user of the rootless tests
scripts/rootless-user.sh
# the tool sits in ../shared beside the checkout (or in /work/shared for a clone elsewhere)
V2VM_DIR=${PYRUNC_V2VM_DIR:-$(cd .. && pwd)/shared/tools/v2vm}
[ -x "$V2VM_DIR/v2vm" ] || V2VM_DIR=/work/shared/tools/v2vm
if [ "${PYRUNC_SKIP_V2VM:-}" != 1 ] && [ -x "$V2VM_DIR/setup.sh" ]; then
  "$V2VM_DIR/setup.sh" >/dev/null
  export PYRUNC_V2VM="$V2VM_DIR/v2vm"
fi
# integration/test_systemd_vm.py boots a VM with systemd as pid 1 (../shared/tools/sdvm) and
# runs integration/test_systemd.py in it: the systemd cgroup driver, podman and containerd
# with their systemd defaults, rootless podman under the user's systemd
SDVM_DIR=${PYRUNC_SDVM_DIR:-$(cd .. && pwd)/shared/tools/sdvm}
[ -x "$SDVM_DIR/sdvm" ] || SDVM_DIR=/work/shared/tools/sdvm
if [ "${PYRUNC_SKIP_SDVM:-}" != 1 ] && [ -x "$SDVM_DIR/setup.sh" ]; then
  "$SDVM_DIR/setup.sh" >/dev/null
  export PYRUNC_SDVM="$SDVM_DIR/sdvm"
fi
# checkpoint/restore: Debian 12's criu (setup.sh --engines) fails on this host's kernel; Debian
# 13's works and is fetched into a directory by ../shared/tools/criu4 (nothing of the system
# changes); integration/test_checkpoint.py gives it to the runtimes with --criu
CRIU4_DIR=${PYRUNC_CRIU4_DIR:-$(cd .. && pwd)/shared/tools/criu4}
[ -x "$CRIU4_DIR/get-criu4.sh" ] || CRIU4_DIR=/work/shared/tools/criu4
if [ -z "${PYRUNC_CRIU:-}" ] && [ -x "$CRIU4_DIR/get-criu4.sh" ]; then
  CRIU_CACHE=/var/cache/pyrunc-test/criu4
  [ -x "$CRIU_CACHE/criu" ] || "$CRIU4_DIR/get-criu4.sh" "$CRIU_CACHE" >/dev/null
  export PYRUNC_CRIU="$CRIU_CACHE/criu"
fi
# the code's own checks first: lint (ruff, pyproject.toml), the C style (csrc/.clang-format),
# the C parts built with -Werror and the executor's protocol test (csrc/Makefile)
.venv/bin/ruff check pyrunc tests integration bench csrc/build_native.py csrc/build_seccomp.py setup.py
make -s -C csrc format-check
cbuild=$(mktemp -d)
make -s -C csrc check OUT="$cbuild"
rm -rf "$cbuild"
# .venv/bin/pytest (not "python -m pytest", which puts the source tree first on sys.path)
# imports the installed pyrunc, with its built executor and cffi module.
exec .venv/bin/pytest -p no:cacheprovider -n "${PYRUNC_TEST_JOBS:-2}" "$@" tests integration

#!/usr/bin/env bash
# The non-root user of integration/test_rootless.py (idempotent): a system user without a
# home or shell, with 65536 ids from 200000 delegated to it in /etc/subuid and /etc/subgid
# for newuidmap/newgidmap (Debian package uidmap, installed by setup.sh).
set -euo pipefail
U=pyrunc-rl
id "$U" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$U"
for f in /etc/subuid /etc/subgid; do
  touch "$f"
  grep -q "^$U:" "$f" || echo "$U:200000:65536" >> "$f"
done

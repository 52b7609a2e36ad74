#!/usr/bin/env bash
# Issue 21's figure: `daily-check` over a fleet of N engines (default 10)
# against one engine's daily-check run N times in a row, side by side in
# one hyperfine run, then the fleet run's peak RSS (the parent; each host's
# run is a child of its own, measured too). Each engine is an extra
# dockerd on this machine, in its own network namespace, with 5 containers
# of the fixture image. Needs root, the fixture image (scripts/test.sh
# builds it) and hyperfine (apt-get install hyperfine).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$here/../.."
cd "$root"
N="${N:-10}"
# HEALTH=0: the containers without healthchecks (how much of the time is
# the engines' own work on this machine).
HEALTH="${HEALTH:-1}"
# TRANSPORT=ssh: every engine reached by ssh:// through one Debian sshd on
# loopback (a port per engine, each port's sessions pointed at its engine),
# as a fleet of remote hosts is; host figures then come from a helper
# container on each engine.
TRANSPORT="${TRANSPORT:-unix}"
command -v hyperfine >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q hyperfine >/dev/null
# TARGET: another target folder, so a benchmark already running from
# target/release keeps its binary.
target="${TARGET:-$root/target}"
CARGO_TARGET_DIR="$target" cargo build --release --locked -q
opsbook="$target/release/opsbook"
work="$(mktemp -d /tmp/opsbook-bench-fleet.XXXX)"
pids=()
cleanup() {
  # Containers first, then each engine, waited for: a killed engine
  # would leave its containers and mounts behind.
  for n in $(seq 1 "$N"); do
    host="unix://$work/e$n/docker.sock"
    ids=$(docker -H "$host" ps -aq 2>/dev/null || true)
    [ -z "$ids" ] || docker -H "$host" rm -f $ids >/dev/null 2>&1 || true
  done
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  done
  rm -rf "$work" 2>/dev/null || echo "some of $work is still mounted" >&2
}
trap cleanup EXIT

printf 'version: 1\nhosts:\n' > "$work/fleet.yaml"
if [ "$TRANSPORT" = ssh ]; then
  mkdir -p "$work/ssh" /run/sshd
  ssh-keygen -q -t ed25519 -N '' -f "$work/ssh/host_key"
  ssh-keygen -q -t ed25519 -N '' -f "$work/ssh/client_key"
  cp "$work/ssh/client_key.pub" "$work/ssh/authorized_keys"
  {
    for n in $(seq 1 "$N"); do echo "ListenAddress 127.0.0.1:$((22000 + n))"; done
    printf 'HostKey %s\nAuthorizedKeysFile %s\nPidFile none\nUsePAM no\nStrictModes no\n' \
      "$work/ssh/host_key" "$work/ssh/authorized_keys"
    printf 'PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nMaxStartups 100\n'
    for n in $(seq 1 "$N"); do
      printf 'Match LocalPort %s\n  SetEnv DOCKER_HOST=unix://%s/e%s/docker.sock\n' "$((22000 + n))" "$work" "$n"
    done
  } > "$work/ssh/sshd_config"
  for n in $(seq 1 "$N"); do
    echo "[127.0.0.1]:$((22000 + n)) $(cat "$work/ssh/host_key.pub")"
  done > "$work/ssh/known_hosts"
  printf 'Host 127.0.0.1\n  IdentityFile %s\n  IdentitiesOnly yes\n  UserKnownHostsFile %s\n' \
    "$work/ssh/client_key" "$work/ssh/known_hosts" > "$work/ssh/config"
  /usr/sbin/sshd -D -e -f "$work/ssh/sshd_config" 2>"$work/ssh/sshd.log" &
  pids+=($!)
fi
for n in $(seq 1 "$N"); do
  dir="$work/e$n"
  mkdir -p "$dir"
  unshare --net dockerd --host "unix://$dir/docker.sock" --data-root "$dir/root" \
    --exec-root "$dir/exec" --pidfile "$dir/docker.pid" --iptables=false --ip6tables=false \
    --containerd-namespace "bench-fleet-$n" --containerd-plugins-namespace "bench-fleet-$n-plugins" \
    >"$dir/dockerd.log" 2>&1 &
  pids+=($!)
done
for n in $(seq 1 "$N"); do
  host="unix://$work/e$n/docker.sock"
  for _ in $(seq 1 60); do docker -H "$host" version >/dev/null 2>&1 && break; sleep 1; done
  docker save opsbook-fixture:1 | docker -H "$host" load >/dev/null
  services=""
  for s in 1 2 3 4 5; do
    docker -H "$host" run -d --network none --name "bench-s$s-1" \
      --label com.docker.compose.project=bench --label "com.docker.compose.service=s$s" \
      $([ "$HEALTH" = 1 ] && echo --health-cmd true --health-interval 5s) \
      opsbook-fixture:1 sleep 1000000 >/dev/null
    services="$services  s$s: {}\n"
  done
  printf "version: 1\nname: host$n\nproject: bench\nservices:\n${services}\
thresholds:\n  memory: { warn: 100%%, crit: 100%% }\n  load: { warn: 1000, crit: 1000 }\n\
checks:\n  s1-answers:\n    exec: { service: s1, command: [\"true\"] }\n" > "$work/e$n/opsbook.yaml"
  if [ "$TRANSPORT" = ssh ]; then
    printf "  host%s:\n    docker: ssh://root@127.0.0.1:%s\n    ssh_config: ./ssh/config\n    runbook: ./e%s/opsbook.yaml\n" \
      "$n" "$((22000 + n))" "$n" >> "$work/fleet.yaml"
  else
    printf "  host%s:\n    docker: %s\n    runbook: ./e%s/opsbook.yaml\n" "$n" "$host" "$n" >> "$work/fleet.yaml"
  fi
done
"$opsbook" --fleet "$work/fleet.yaml" daily-check --state-dir "$work/state" >&2 || true

if [ "$TRANSPORT" = ssh ]; then
  one="DOCKER_HOST=ssh://root@127.0.0.1:22001 OPSBOOK_SSH_CONFIG=$work/ssh/config $opsbook --runbook $work/e1/opsbook.yaml --state-dir $work/state-one daily-check --quiet"
else
  one="DOCKER_HOST=unix://$work/e1/docker.sock $opsbook --runbook $work/e1/opsbook.yaml --state-dir $work/state-one daily-check --quiet"
fi
suffix="$([ "$HEALTH" = 1 ] || echo -no-healthchecks)$([ "$TRANSPORT" = ssh ] && echo -ssh || true)"
hyperfine --warmup 1 --runs "${RUNS:-10}" -i --export-markdown "$here/results$suffix.md" \
  -n "one engine" "$one" \
  -n "one engine, $N times in a row" "for i in \$(seq 1 $N); do $one; done" \
  -n "fleet of $N" "$opsbook --fleet $work/fleet.yaml daily-check --state-dir $work/state --quiet"
echo >&2
/usr/bin/time -v "$opsbook" --fleet "$work/fleet.yaml" daily-check --state-dir "$work/state" --quiet 2>&1 >/dev/null \
  | grep -E "Maximum resident set size|Elapsed" >&2 || true

#!/usr/bin/env bash
# The morning check as the seed runbooks do it by hand, as one script: host
# figures, then `docker inspect` and `docker logs | grep` per container, every
# container's resources (`docker stats --no-stream`), `curl` per endpoint,
# `docker exec` per exec check. The baseline opsbook is timed against.
set -uo pipefail
free -m
swapon --show
uptime
df -h /
for c in $(docker ps -aq --filter label=com.docker.compose.project=bench); do
  docker inspect --format '{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}} restarts={{.RestartCount}}' "$c"
  echo "errors: $(docker logs --since 24h "$c" 2>&1 | grep -ciE '\berror\b|\bfatal\b')"
done
docker stats --no-stream $(docker ps -q --filter label=com.docker.compose.project=bench)
curl -fsS -m 2 http://127.0.0.1:18091/health
curl -fsS -m 2 http://127.0.0.1:18092/health
docker exec bench-svc03-1 test -f /tmp/ready && echo "svc03 ready"
docker exec bench-svc04-1 echo PONG | grep -q PONG && echo "svc04 PONG"
ls -t /tmp/opsbook-bench-backups 2>/dev/null | head -1
df -h /tmp

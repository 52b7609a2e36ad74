#!/usr/bin/env bash
# Starts the benchmark deployment: 50 compose-labelled containers of project
# `bench` from the busybox fixture image (scripts/test.sh builds it). Each
# writes some log lines, a few with errors; svc01 and svc02 serve /health on
# 127.0.0.1:18091 and :18092; every fifth has a Docker healthcheck.
set -euo pipefail
IMAGE="${IMAGE:-opsbook-fixture:1}"
COUNT="${COUNT:-50}"
for n in $(seq -w 1 "$COUNT"); do
  name="bench-svc$n-1"
  args=(--detach --name "$name" --label com.docker.compose.project=bench
        --label "com.docker.compose.service=svc$n" --label com.docker.compose.container-number=1)
  script="for i in \$(seq 1 200); do echo \"svc$n request \$i served in 3ms\"; done; echo 'ERROR svc$n: upstream timeout'; touch /tmp/ready"
  case "$n" in
    01|02)
      port=$((18090 + 10#$n))
      args+=(--publish "127.0.0.1:$port:8080")
      script="$script; mkdir -p /www; echo '{\"status\": \"ok\"}' > /www/health; httpd -p 8080 -h /www"
      ;;
  esac
  if [ $((10#$n % 5)) -eq 0 ]; then
    args+=(--health-cmd 'test -f /tmp/ready' --health-interval 2s)
  fi
  docker run "${args[@]}" "$IMAGE" sh -c "$script; trap 'exit 0' TERM; sleep 2147483647 & wait" >/dev/null
done
for port in 18091 18092; do
  for _ in $(seq 1 50); do
    wget -q -O /dev/null "http://127.0.0.1:$port/health" 2>/dev/null && break
    curl -fsS -o /dev/null "http://127.0.0.1:$port/health" 2>/dev/null && break
    sleep 0.2
  done
done
echo "bench: $COUNT containers up" >&2

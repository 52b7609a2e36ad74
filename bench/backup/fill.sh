#!/usr/bin/env bash
# Creates volume `opsbook-bench-backup_data` (compose-labelled, project
# `opsbook-bench-backup`) holding SIZE_GB GiB: a quarter random bytes, the
# rest log-like text, and a stopped container `opsbook-bench-backup-db-1`
# that mounts it at /data.
set -euo pipefail
IMAGE="${IMAGE:-opsbook-fixture:1}"
SIZE_GB="${SIZE_GB:-1}"
project=opsbook-bench-backup
"$(dirname "$0")/clean.sh"
docker volume create --label com.docker.compose.project=$project --label com.docker.compose.volume=data \
  ${project}_data >/dev/null
random_mb=$((SIZE_GB * 256))
text_mb=$((SIZE_GB * 768))
docker run --name $project-db-1 --label com.docker.compose.project=$project \
  --label com.docker.compose.service=db -v ${project}_data:/data "$IMAGE" sh -c "
    head -c $((random_mb * 1024 * 1024)) /dev/urandom > /data/random.bin
    mkdir -p /data/logs
    awk 'BEGIN { srand(7); for (i = 0; i < 200000; i++)
      printf \"2026-11-23T06:%02d:%02d.%03dZ INFO  api request id=%08x path=/api/v1/orders/%d status=%d latency_ms=%d user=u%05d\n\",
        int(i/6000)%60, int(i/100)%60, i%1000, int(rand()*4294967295), int(rand()*100000),
        (rand() < 0.97 ? 200 : 500), int(rand()*900), int(rand()*50000) }' > /data/logs/chunk
    chunk=\$(wc -c < /data/logs/chunk)
    need=$((text_mb * 1024 * 1024))
    n=0; written=0
    while [ \$written -lt \$need ]; do
      sed \"s/request id=/request n=\$n id=/\" /data/logs/chunk > /data/logs/app-\$n.log
      written=\$((written + chunk + 0)); n=\$((n + 1))
    done
    rm /data/logs/chunk
  " >/dev/null
docker run --rm -v ${project}_data:/data "$IMAGE" du -sh /data

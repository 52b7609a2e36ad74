#!/usr/bin/env bash
# Removes every container of the benchmark deployment.
set -euo pipefail
ids=$(docker ps -aq --filter label=com.docker.compose.project=bench)
[ -z "$ids" ] || docker rm -f $ids >/dev/null

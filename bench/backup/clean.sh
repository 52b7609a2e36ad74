#!/usr/bin/env bash
# Removes the backup benchmark's container and volume.
set -uo pipefail
project=opsbook-bench-backup
docker rm -f $project-db-1 >/dev/null 2>&1
docker volume rm ${project}_data >/dev/null 2>&1
exit 0

#!/usr/bin/env bash
# Smoke test: /health/ready must answer 200 (database and queue reachable) within the deadline.
#   deploy/scripts/smoke.sh <api-url> [attempts=30] [delay-seconds=10]
set -euo pipefail
[[ $# -ge 1 ]] || { echo "usage: $0 <api-url> [attempts] [delay]" >&2; exit 2; }
URL=${1%/}/health/ready
ATTEMPTS=${2:-30}
DELAY=${3:-10}
for ((i = 1; i <= ATTEMPTS; i++)); do
  if body=$(curl --fail --silent --show-error --max-time 5 "$URL" 2>&1); then
    echo "ready: $body"
    exit 0
  fi
  echo "attempt $i/$ATTEMPTS: not ready yet ($body)" >&2
  sleep "$DELAY"
done
echo "$URL never became ready" >&2
exit 1

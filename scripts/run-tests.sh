#!/usr/bin/env bash
# The test suite in two streams at once, both on this machine's real services.
#
# The end-to-end tests spend most of their time waiting: for a market's expiry, for a
# process to come back, for a block. Every other test runs beside them instead of after
# them. Each stream's lines carry its name; the run fails when either stream fails
# (pytest itself fails when it collects nothing).
#
# Usage: scripts/run-tests.sh <command that runs pytest> (e.g. uv run ... pytest)
set -uo pipefail

"$@" tests/e2e 2>&1 | sed -u 's/^/e2e  | /' &
e2e=$!
"$@" --ignore=tests/e2e 2>&1 | sed -u 's/^/rest | /'
rest=$?
wait "$e2e"
e2e_status=$?
echo "pytest: rest exited ${rest}, e2e exited ${e2e_status}"
if (( rest != 0 || e2e_status != 0 )); then
    exit 1
fi

#!/usr/bin/env bash
# Hot-swap benchmark (see bench/swap.py): swap latency, throughput during a swap storm, and
# resident memory per swap for a C and a Swift plugin, against the release host.
#
#   bench/swap.sh                 (DURATION=6 ROUNDS=3 LATENCY_SWAPS=60 C_VERSIONS=200 SWIFT_VERSIONS=16)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
swift build -c release >/dev/null
exec python3 -u bench/swap.py "$(swift build -c release --show-bin-path)"

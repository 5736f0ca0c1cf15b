#!/usr/bin/env bash
# Fails when the committed flowlog.bpf.o is not what the sources compile to.
#
# CI runs this so a source change without a refreshed object (or an object
# edited by hand) cannot be merged. Rebuild with `bash bpf/build.sh
# bpf/flowlog.bpf.o` (or just `cargo build`, which refreshes it).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
tmp=$(mktemp "${TMPDIR:-/tmp}/flowlog-check.XXXXXX.o")
trap 'rm -f "$tmp"' EXIT

bash "$here/build.sh" "$tmp"
if ! cmp -s "$tmp" "$here/flowlog.bpf.o"; then
	echo "check-object: bpf/flowlog.bpf.o is stale: it differs from what bpf/flowlog.bpf.c compiles to" >&2
	echo "check-object: run 'bash crates/capture-ebpf/bpf/build.sh crates/capture-ebpf/bpf/flowlog.bpf.o' and commit it" >&2
	exit 1
fi
echo "check-object: bpf/flowlog.bpf.o is up to date"

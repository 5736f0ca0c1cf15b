#!/usr/bin/env bash
# Compiles flowlog.bpf.c into the object given as $1.
#
# The one place the compiler flags live: build.rs and check-object.sh both
# call this script, so the committed object can be reproduced byte for byte.
#
# Determinism: we compile from inside bpf/ with relative file names and map
# the absolute directory to "." so no checkout path lands in the object, and
# strip DWARF (llvm-strip -g), which keeps .BTF and .BTF.ext: the loader needs
# those for the BTF-defined maps and the CO-RE relocations.
#
# Environment: CLANG and LLVM_STRIP override the tools (default: the -19
# versions if present, else the unversioned ones).
set -euo pipefail

out=${1:?usage: build.sh OUTPUT.o}
case $out in /*) ;; *) out="$PWD/$out" ;; esac

pick() {
	local tool
	for tool in "$@"; do
		if command -v "$tool" >/dev/null 2>&1; then
			echo "$tool"
			return 0
		fi
	done
	return 1
}

clang=${CLANG:-$(pick clang-19 clang)} || { echo "build.sh: clang not found" >&2; exit 1; }
strip=${LLVM_STRIP:-$(pick llvm-strip-19 llvm-strip)} || { echo "build.sh: llvm-strip not found" >&2; exit 1; }

# -P: resolve symlinks so $PWD (which clang records) is the physical path mapped below.
cd -P "$(dirname "${BASH_SOURCE[0]}")"
dir=$(pwd -P)

# <asm/types.h>, pulled in by <linux/types.h>, lives in the multiarch directory.
multiarch=$(gcc -print-multiarch 2>/dev/null || echo "$(uname -m)-linux-gnu")

tmp=$(mktemp "${TMPDIR:-/tmp}/flowlog.bpf.XXXXXX")
trap 'rm -f "$tmp"' EXIT

"$clang" -O2 -g -target bpf -std=gnu11 -Wall -Wextra -Werror \
	-I. -idirafter "/usr/include/$multiarch" \
	-ffile-prefix-map="$dir"=. -fdebug-prefix-map="$dir"=. \
	-c flowlog.bpf.c -o "$tmp"
"$strip" -g "$tmp" -o "$out"

#!/usr/bin/env bash
# scripts/configure-build: a directory gets the build type and compiler asked for, printed from
# its CMakeCache.txt; a directory another script configured with another compiler is refused
# without touching it (CMake would wipe its cache and lose the build type: the unoptimised
# build/ that scripts/test used to leave after scripts/demo); a cache that ends up with another
# build type than asked fails the script.
# Usage: configure_build_test.sh SOURCE_DIR
set -euo pipefail
source="$1"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
configure() { "$source/scripts/configure-build" "$@" -DINFERENCE_BUILD_TESTS=OFF -DINFERENCE_BUILD_BENCH=OFF; }
cached() { sed -n "s/^$2:[A-Z]*=//p" "$1/CMakeCache.txt"; }
fail() { echo "FAIL: $*"; exit 1; }
gxx="$(command -v g++)" clangxx="$(command -v clang++)"

echo "== a fresh directory"
out="$(configure "$scratch/fresh" RelWithDebInfo g++)"
echo "$out"
[[ "$out" == *"CMAKE_BUILD_TYPE=RelWithDebInfo CMAKE_CXX_COMPILER=$gxx ("* ]] || fail "the flavour line is missing"

echo "== a directory configured with another compiler"
configure "$scratch/other" RelWithDebInfo clang++ >/dev/null
status=0
out="$(configure "$scratch/other" RelWithDebInfo g++ 2>&1)" || status=$?
echo "$out"
[[ $status -ne 0 ]] || fail "a directory configured with clang++ was reconfigured with g++"
[[ "$out" == *"configured with $clangxx"* ]] || fail "the refusal does not name the directory's compiler"
[[ "$(cached "$scratch/other" CMAKE_CXX_COMPILER)" == "$clangxx" ]] || fail "the refused directory's compiler changed"
[[ "$(cached "$scratch/other" CMAKE_BUILD_TYPE)" == RelWithDebInfo ]] || fail "the refused directory lost its build type"

echo "== a cache that does not end up with the build type asked for"
status=0
out="$(configure "$scratch/fresh" RelWithDebInfo g++ -DCMAKE_BUILD_TYPE=Debug 2>&1)" || status=$?
echo "$out"
[[ $status -ne 0 ]] || fail "a Debug cache passed as RelWithDebInfo"
[[ "$out" == *"CMAKE_BUILD_TYPE 'Debug', asked for 'RelWithDebInfo'"* ]] || fail "the mismatch is not named"
echo "configure-build: ok"

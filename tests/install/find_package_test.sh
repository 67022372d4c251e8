#!/usr/bin/env bash
# Installs the build into a scratch prefix, builds a host application against it with
# find_package(inference CONFIG), and streams from the installed stub plugin.
# Usage: find_package_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build="$1" source="$2"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
cmake --install "$build" --prefix "$scratch/prefix" >/dev/null
for f in bin/llmctl lib/inference/plugins/libbackend_stub.so lib/cmake/inference/inferenceConfig.cmake include/inference/inference.hpp; do
  [[ -e "$scratch/prefix/$f" ]] || { echo "missing from the install tree: $f"; exit 1; }
done
mkdir "$scratch/consumer"
cp "$source/tests/install/consumer_main.cpp" "$scratch/consumer/"
cp "$source/tests/install/consumer_CMakeLists.txt" "$scratch/consumer/CMakeLists.txt"
cmake -S "$scratch/consumer" -B "$scratch/consumer/build" -G Ninja -DCMAKE_PREFIX_PATH="$scratch/prefix" >/dev/null
cmake --build "$scratch/consumer/build" >/dev/null
out="$("$scratch/consumer/build/consumer")"
echo "$out"
[[ "$out" == *"[length]"* ]] || { echo "the consumer did not stream to the end"; exit 1; }
# The installed llmctl finds its plugins relative to itself.
"$scratch/prefix/bin/llmctl" backends --json | grep -q '"name":"stub","available":true'
echo "install tree and find_package consumer: ok"

#!/usr/bin/env bash
# Installs the build into a scratch prefix, builds a host application against it with
# find_package(inference CONFIG) alone (no CMAKE_CXX_STANDARD, both exported targets), and
# streams from the installed stub plugin.
# Usage: find_package_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build="$1" source="$2"
source "$source/tests/install/install_tree.sh"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
install_tree "$build" "$scratch/prefix"
mkdir "$scratch/consumer"
cp "$source/tests/install/consumer_main.cpp" "$scratch/consumer/"
cp "$source/tests/install/consumer_CMakeLists.txt" "$scratch/consumer/CMakeLists.txt"
configure_consumer "$scratch/consumer" "$scratch/consumer/build" "$scratch/prefix" "$build"
cmake --build "$scratch/consumer/build"
out="$("$scratch/consumer/build/consumer" "$scratch/tiny.gguf")"
echo "$out"
[[ "$out" == *"gguf: llama"* ]] || { echo "the consumer did not read back the GGUF it wrote"; exit 1; }
[[ "$out" == *"[length]"* ]] || { echo "the consumer did not stream to the end"; exit 1; }
# The installed llmctl finds its plugins relative to itself.
"$scratch/prefix/bin/llmctl" backends --json | grep -q '"name":"stub","available":true'
echo "install tree and find_package consumer: ok"

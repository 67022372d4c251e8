#!/usr/bin/env bash
# The example host applications (examples/) as a newcomer builds them: against the installed
# package, in a separate CMake project that does not set CMAKE_CXX_STANDARD, then run on the real
# llama-server with the tiny model. LLAMA_SERVER_PATH is removed from their environment: the
# installed plugins must find the llama-server the build was configured with by themselves.
# Usage: examples_test.sh BUILD_DIR SOURCE_DIR CONFIGURED_LLAMA_SERVER MODELS_DIR
# Exits 77 (ctest: skipped) when the llama-server or the model is missing.
set -euo pipefail
build="$1" source="$2" server="$3"
models="${INFERENCE_MODELS_DIR:-$4}"
source "$source/tests/install/install_tree.sh"

[[ -x "$server" ]] || { echo "SKIP: the configured llama-server '$server' is not installed (run scripts/setup)"; exit 77; }
[[ -f "$models/llama-2-tiny-random.gguf" ]] ||
  { echo "SKIP: $models/llama-2-tiny-random.gguf is missing (set INFERENCE_MODELS_DIR)"; exit 77; }

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
install_tree "$build" "$scratch/prefix"
configure_consumer "$source/examples" "$scratch/examples" "$scratch/prefix" "$build"
grep -Eq '^[[:space:]]*set[[:space:]]*\([[:space:]]*CMAKE_CXX_STANDARD' "$source/examples/CMakeLists.txt" &&
  { echo "the examples must build without CMAKE_CXX_STANDARD (inference::core brings C++20)"; exit 1; }
cmake --build "$scratch/examples"

# A model path of this run's own: every llama-server started from it has it on its command line,
# so one left behind is found, and servers of other runs on the machine are not.
model="$scratch/tiny.gguf"
ln -s "$models/llama-2-tiny-random.gguf" "$model"
no_server_left() {
  if pgrep -af -- "$model" >&2; then echo "a llama-server was left running (above)"; return 1; fi
}
fail() { echo "FAIL: $*"; exit 1; }
without_env=(env -u LLAMA_SERVER_PATH -u INFERENCE_PLUGIN_PATH)  # env execs: $! is the example's pid

echo "== minimal"
out="$("${without_env[@]}" "$scratch/examples/minimal" "$model" "Once upon a time")"
echo "$out"
[[ "$(tail -n 1 <<<"$out")" == "[length, 32 tokens]" ]] || fail "minimal did not stream 32 tokens to the end"
no_server_left

echo "== concurrent"
out="$("${without_env[@]}" "$scratch/examples/concurrent" "$model")"
echo "$out"
expect() { grep -Eq "$1" <<<"$out" || fail "concurrent: no line matching '$1'"; }
expect '^started 7 streams over 4 slots'
for story in story1 story2 story3 story4; do expect "^$story +length +64 tokens"; done
expect '^cancelled +cancelled '
expect '^chat +(length|eos|stop) '
expect '^deadline +error \(deadline exceeded\) +0 tokens'
expect '^model: 4 slots, at most 4 busy at once, '
[[ "$(tail -n 1 <<<"$out")" == "model closed" ]] || fail "concurrent did not close the model last"
no_server_left

# Ctrl-C while the streams run: long generations, and SIGINT as soon as they have started (the
# example says so on a line of its own, read from a FIFO: no sleep, no polling).
echo "== concurrent, interrupted"
mkfifo "$scratch/out"
"${without_env[@]}" "$scratch/examples/concurrent" "$model" 3000 >"$scratch/out" &
pid=$!
exec 3<"$scratch/out"
out=""
while IFS= read -r -t 120 line <&3; do
  out+="$line"$'\n'
  if [[ "$line" == started* ]]; then kill -INT "$pid"; break; fi
done
out+="$(cat <&3)"
exec 3<&-
status=0
wait "$pid" || status=$?
echo "$out"
[[ $status -eq 130 ]] || fail "interrupted run exited with $status, not 130"
expect '^interrupted: streams cancelled'
for story in story1 story2 story3 story4; do expect "^$story +cancelled "; done
[[ "$(tail -n 1 <<<"$out")" == "model closed" ]] || fail "the interrupted run did not close the model"
no_server_left
echo "examples against the installed package: ok"

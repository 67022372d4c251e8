# Sourced by the install tests: installing the build into a scratch prefix, checking the layout a
# host application relies on, and configuring a separate CMake project against that prefix.

# install_tree BUILD_DIR PREFIX: cmake --install, then checks that the files a host needs are
# there and that every installed plugin resolves libinference.so inside PREFIX (its RUNPATH), not
# through whatever the loading process happened to load first.
install_tree() {
  local build="$1" prefix="$2" plugin resolved
  cmake --install "$build" --prefix "$prefix" >/dev/null
  for f in bin/llmctl lib/inference/plugins/libbackend_stub.so lib/cmake/inference/inferenceConfig.cmake \
      include/inference/inference.hpp include/inference/llama_server/engine_option_keys.hpp; do
    [[ -e "$prefix/$f" ]] || { echo "missing from the install tree: $f"; return 1; }
  done
  for plugin in "$prefix"/lib/inference/plugins/libbackend_*.so; do
    resolved="$(ldd "$plugin" | awk '$1 ~ /^libinference\.so/ {print $3}')"
    [[ "$(realpath -m "$resolved")" == "$(realpath "$prefix/lib")/libinference.so"* ]] ||
      { echo "$plugin: libinference.so resolves to '${resolved:-nothing}', not inside $prefix/lib"; ldd "$plugin"; return 1; }
    # The llama-server plugins share the engine library installed beside libinference.so.
    resolved="$(ldd "$plugin" | awk '$1 ~ /^libinference_llama_server\.so/ {print $3}')"
    [[ -z "$resolved" || "$(realpath -m "$resolved")" == "$(realpath "$prefix/lib")/libinference_llama_server.so"* ]] ||
      { echo "$plugin: libinference_llama_server.so resolves to '$resolved', not inside $prefix/lib"; ldd "$plugin"; return 1; }
  done
  ldd "$prefix/lib/inference/plugins/libbackend_llama_cpp.so" | grep -q "libinference_llama_server.so.* => $(realpath "$prefix/lib")/" ||
    { echo "libbackend_llama_cpp.so does not load the installed engine library"; return 1; }
}

# configure_consumer SOURCE_DIR BINARY_DIR PREFIX BUILD_DIR: configures a host project against
# the installed package with the compiler the runtime was built with (the plugin build tag pins it).
configure_consumer() {
  local source="$1" binary="$2" prefix="$3" build="$4" compiler
  compiler="$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$build/CMakeCache.txt")"
  cmake -S "$source" -B "$binary" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_CXX_COMPILER="$compiler" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
}

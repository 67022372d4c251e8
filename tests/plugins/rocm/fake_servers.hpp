// Stand-ins for llama-server builds in the rocm tests. This machine has no HIP build, so the
// tests that exercise the HIP path (pinning, replicas, faults) run the real CPU llama-server
// behind a script that answers the device probe as a HIP build with one GPU would; everything
// else it hands to the real server. The probe itself (server_devices.hpp) is the real one.
// Ownership: the scripts are files in the caller's FakeSysfs tree. Thread-safety: one test thread.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "fake_sysfs.hpp"
#include "inference/llama_server/server_devices.hpp"
#include "runtime_choice.hpp"

namespace inference::rocm::test {

// What `llama-server -lv 4 --list-devices` prints for a HIP build seeing one RX 7900 XTX.
inline constexpr std::string_view kHipBuildListing =
    "0.00.050.100 I load_backend: loaded ROCm backend from /opt/llama/lib/libggml-hip.so\n"
    "0.00.063.442 I load_backend: loaded CPU backend from /opt/llama/lib/libggml-cpu-zen4.so\n"
    "Available devices:\n"
    "  ROCm0: AMD Radeon RX 7900 XTX (24560 MiB, 24000 MiB free)\n";

// Writes <tree>/bin/<name>: a script that prints `listing` for --list-devices and otherwise
// execs `real_server` with all its arguments (exits 0 when real_server is empty).
std::filesystem::path write_server_stand_in(const FakeSysfs& tree, const std::string& name, std::string_view listing,
                                            const std::filesystem::path& real_server = {});

// A HIP build stand-in in front of `real_server`.
inline std::filesystem::path write_hip_stand_in(const FakeSysfs& tree, const std::filesystem::path& real_server = {}) {
  return write_server_stand_in(tree, "llama-server-hip", kHipBuildListing, real_server);
}

// A probe that answers every binary with `listing` and records the last environment it was
// asked with (when last_environment is given).
DeviceProbe fixed_probe(llama_server::ServerDeviceList listing,
                        std::shared_ptr<llama_server::ProbeEnvironment> last_environment = nullptr);

}  // namespace inference::rocm::test

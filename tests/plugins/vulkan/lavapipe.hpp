// What the lavapipe tests share: the Vulkan build of llama-server (scripts/setup --gpu vulkan
// puts llama-server-vulkan next to the configured llama-server), the reason to skip where it or
// the tiny model is missing, and load options that allow the software device.
//
// Thread-safety: plain functions; one test thread.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "inference/llama_server/server_binary.hpp"
#include "inference/load_options.hpp"
#include "support/child_processes.hpp"
#include "support/test_inputs.hpp"

namespace inference::vulkan::test {

inline std::optional<std::filesystem::path> vulkan_server() {
  return llama_server::configured_runtime_server_binary("vulkan");
}

// Why the lavapipe tests cannot run here, or std::nullopt.
inline std::optional<std::string> lavapipe_skip_reason() {
  if (!vulkan_server()) {
    return "no Vulkan llama-server (llama-server-vulkan next to the configured llama-server): run scripts/setup "
           "--gpu vulkan";
  }
  if (!std::filesystem::is_regular_file(inference::test::tiny_model_for_tests())) {
    return "test model " + inference::test::tiny_model_for_tests().string() + " missing";
  }
  return std::nullopt;
}

#define SKIP_WITHOUT_LAVAPIPE()                                                                         \
  do {                                                                                                  \
    if (const auto reason = ::inference::vulkan::test::lavapipe_skip_reason()) GTEST_SKIP() << *reason; \
  } while (false)

// The Vulkan build on lavapipe (device 0, allowed), `slots` slots of `context_per_slot` tokens
// (0: chosen by the backend).
inline LoadOptions lavapipe_options(std::uint32_t slots, std::uint32_t context_per_slot) {
  LoadOptions options;
  options.parallel_slots = slots;
  options.context_len = context_per_slot;
  options.device = 0;
  options.backend_options["server_path"] = vulkan_server()->string();
  options.backend_options["allow_software_device"] = "1";
  // Two cores are shared by everything here: one thread keeps the server from starving the test.
  options.backend_options["server_args"] = "-t\n1";
  return options;
}

using inference::test::process_environment;  // tests/support/child_processes

}  // namespace inference::vulkan::test

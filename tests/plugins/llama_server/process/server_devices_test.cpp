// The --list-devices parser on the real outputs of the Debian build (CPU-only, and Vulkan with
// lavapipe visible, hidden or asked past its last index), on malformed and oversized input; and
// the device memo: one probe per binary file and environment, failures not remembered.
#include "inference/llama_server/server_devices.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "inference/error.hpp"
#include "support/scratch_directory.hpp"

namespace inference::llama_server {
namespace {

namespace fs = std::filesystem;

// `llama-server -lv 4 --list-devices` of the Vulkan build with GGML_VK_VISIBLE_DEVICES=0.
constexpr std::string_view kVulkanLavapipe =
    "Available devices:\n"
    "  Vulkan0: llvmpipe (LLVM 21.1.8, 256 bits) (24105 MiB, 23106 MiB free)\n"
    "0.00.031.700 I load_backend: loaded CPU backend from /p/usr/lib/x86_64-linux-gnu/libggml-cpu-zen4.so\n"
    "0.00.166.151 I load_backend: loaded Vulkan backend from "
    "/p/bin/../root/usr/lib/x86_64-linux-gnu/ggml/backends0/libggml-vulkan.so\n";
// The same build without GGML_VK_VISIBLE_DEVICES: ggml skips the CPU-type device.
constexpr std::string_view kVulkanNoDevice =
    "Available devices:\n"
    "  (none)\n"
    "0.00.033.042 I load_backend: loaded CPU backend from /p/libggml-cpu-zen4.so\n"
    "0.00.181.812 I ggml_vulkan: No devices found.\n"
    "0.00.181.871 I load_backend: loaded Vulkan backend from /p/ggml/backends0/libggml-vulkan.so\n";
// With GGML_VK_VISIBLE_DEVICES=1, past the last device: the Vulkan library fails to initialise.
constexpr std::string_view kVulkanInvalidIndex =
    "Available devices:\n"
    "  (none)\n"
    "0.00.054.869 I load_backend: loaded CPU backend from /p/libggml-cpu-zen4.so\n"
    "ggml_vulkan: Invalid device index 1 in GGML_VK_VISIBLE_DEVICES.\n"
    "0.00.182.302 E load_backend: failed to initialize backend from "
    "/p/ggml/backends0/libggml-vulkan.so: ggml_backend_init returned NULL\n";
// The CPU-only build.
constexpr std::string_view kCpuOnly =
    "0.00.033.042 I load_backend: loaded CPU backend from /p/libggml-cpu-zen4.so\n"
    "Available devices:\n"
    "  (none)\n";

TEST(ServerDevicesParseTest, LavapipeIsOneVulkanDeviceWithItsMemoryAndIsSoftware) {
  const auto list = parse_server_devices(kVulkanLavapipe);
  ASSERT_TRUE(list);
  ASSERT_EQ(list->devices.size(), 1U);
  const ServerDevice& device = list->devices[0];
  EXPECT_EQ(device.name, "Vulkan0");
  EXPECT_EQ(device.description, "llvmpipe (LLVM 21.1.8, 256 bits)");
  EXPECT_EQ(device.total_mib, 24105U);
  EXPECT_EQ(device.free_mib, 23106U);
  EXPECT_EQ(device.runtime(), "Vulkan");
  EXPECT_TRUE(device.software());
  EXPECT_EQ(device.describe(), "Vulkan0: llvmpipe (LLVM 21.1.8, 256 bits) (24105 MiB, 23106 MiB free)");
  EXPECT_EQ(list->loaded_backends, (std::vector<std::string>{"CPU", "Vulkan"}));
  EXPECT_TRUE(list->failed_backends.empty());
  EXPECT_TRUE(list->has_runtime("Vulkan"));
  EXPECT_FALSE(list->has_runtime("ROCm"));
  EXPECT_EQ(list->devices_of("Vulkan").size(), 1U);
  EXPECT_TRUE(list->devices_of("ROCm").empty());
}

// llama.cpp's logger thread can lose the "loaded ... backend" lines of a probe that exits at once
// (seen 1 in 8 probes under load): a listed device still proves its runtime.
TEST(ServerDevicesParseTest, AListedDeviceProvesItsRuntimeWhenTheLoadLineWasLost) {
  const auto list = parse_server_devices(
      "Available devices:\n"
      "  Vulkan0: llvmpipe (LLVM 21.1.8, 256 bits) (24105 MiB, 23106 MiB free)\n");
  ASSERT_TRUE(list);
  EXPECT_TRUE(list->loaded_backends.empty());
  EXPECT_TRUE(list->has_runtime("Vulkan"));
  EXPECT_FALSE(list->has_runtime("ROCm"));
}

// Seen in a probe: the logger thread had written a line's timestamp when the list (stdout) was
// flushed; the rest of that log line follows the list.
TEST(ServerDevicesParseTest, AListFlushedInsideALogLineIsStillRead) {
  const auto list = parse_server_devices(
      "0.00.031.700 I load_backend: loaded CPU backend from /p/libggml-cpu-zen4.so\n"
      "0.00.166.151 I Available devices:\n"
      "  Vulkan0: llvmpipe (LLVM 21.1.8, 256 bits) (24105 MiB, 23106 MiB free)\n"
      "load_backend: loaded Vulkan backend from /p/ggml/backends0/libggml-vulkan.so\n");
  ASSERT_TRUE(list);
  ASSERT_EQ(list->devices.size(), 1U);
  EXPECT_EQ(list->devices[0].free_mib, 23106U);
  EXPECT_EQ(list->loaded_backends, (std::vector<std::string>{"CPU", "Vulkan"}));
}

TEST(ServerDevicesParseTest, AVulkanBuildThatSeesNoDeviceStillHasTheRuntime) {
  const auto list = parse_server_devices(kVulkanNoDevice);
  ASSERT_TRUE(list);
  EXPECT_TRUE(list->devices.empty());
  EXPECT_TRUE(list->has_runtime("Vulkan"));
}

TEST(ServerDevicesParseTest, AnIndexPastTheLastDeviceListsNoneAndNamesTheFailedLibrary) {
  const auto list = parse_server_devices(kVulkanInvalidIndex);
  ASSERT_TRUE(list);
  EXPECT_TRUE(list->devices.empty());
  EXPECT_EQ(list->loaded_backends, (std::vector<std::string>{"CPU"}));
  EXPECT_EQ(list->failed_backends, (std::vector<std::string>{"libggml-vulkan.so"}));
  EXPECT_TRUE(list->has_runtime("Vulkan"));
}

TEST(ServerDevicesParseTest, TheCpuBuildHasNoDeviceAndNoGpuRuntime) {
  const auto list = parse_server_devices(kCpuOnly);
  ASSERT_TRUE(list);
  EXPECT_TRUE(list->devices.empty());
  EXPECT_EQ(list->loaded_backends, (std::vector<std::string>{"CPU"}));
  EXPECT_FALSE(list->has_runtime("Vulkan"));
  EXPECT_FALSE(list->has_runtime("ROCm"));
}

TEST(ServerDevicesParseTest, AFailedHipLibraryCountsAsTheRocmRuntime) {
  const auto list = parse_server_devices(
      "E load_backend: failed to initialize backend from /x/libggml-hip.so: no ROCm-capable device\n"
      "Available devices:\n  (none)\n");
  ASSERT_TRUE(list);
  EXPECT_TRUE(list->has_runtime("ROCm"));
  EXPECT_FALSE(list->has_runtime("Vulkan"));
}

TEST(ServerDevicesParseTest, ADiscreteGpuIsNotSoftware) {
  const auto list = parse_server_devices(
      "Available devices:\n  ROCm0: AMD Radeon RX 7800 XT (16368 MiB, 16000 MiB free)\n"
      "  Vulkan1: AMD Radeon RX 7800 XT (RADV NAVI32) (16368 MiB, 15000 MiB free)\n");
  ASSERT_TRUE(list);
  ASSERT_EQ(list->devices.size(), 2U);
  EXPECT_EQ(list->devices[0].runtime(), "ROCm");
  EXPECT_FALSE(list->devices[0].software());
  EXPECT_EQ(list->devices[1].description, "AMD Radeon RX 7800 XT (RADV NAVI32)");
  EXPECT_EQ(list->devices[1].runtime(), "Vulkan");
}

TEST(ServerDevicesParseTest, OutputWithoutTheHeaderIsNoDeviceList) {
  EXPECT_FALSE(parse_server_devices(""));
  EXPECT_FALSE(parse_server_devices("error: invalid argument: --list-devices\n"));
  EXPECT_FALSE(parse_server_devices("  Vulkan0: llvmpipe (24105 MiB, 23106 MiB free)\n"));
}

TEST(ServerDevicesParseTest, MalformedDeviceLinesAreSkipped) {
  const auto list = parse_server_devices(
      "Available devices:\n"
      "  Vulkan0: llvmpipe (LLVM 21.1.8, 256 bits) (24105 MiB, 23106 MiB)\n"      // no "free"
      "  Vulkan1: llvmpipe (LLVM 21.1.8, 256 bits) (lots MiB, 23106 MiB free)\n"  // not a number
      "  Vulkan 2: llvmpipe (1 MiB, 1 MiB free)\n"                                // space in the name
      "  : nameless (1 MiB, 1 MiB free)\n"
      "  Vulkan3: (1 MiB, 1 MiB free)\n"                                 // no description
      "  Vulkan4: llvmpipe (99999999999999999999999 MiB, 1 MiB free)\n"  // overflows
      "0.00.181.871 I load_backend: loaded Vulkan backend from /p/libggml-vulkan.so\n"
      "  Vulkan5: good (10 MiB, 5 MiB free)\n");
  ASSERT_TRUE(list);
  ASSERT_EQ(list->devices.size(), 1U);
  EXPECT_EQ(list->devices[0].name, "Vulkan5");
}

TEST(ServerDevicesParseTest, MoreThanTheDeviceLimitIsMalformed) {
  std::string output = "Available devices:\n";
  for (std::size_t i = 0; i <= kMaxListedDevices; ++i) {
    output += "  Vulkan" + std::to_string(i) + ": card (10 MiB, 5 MiB free)\n";
  }
  EXPECT_FALSE(parse_server_devices(output));
}

// probe_server_devices_cached() against shell stand-ins that log each run.
class ServerDevicesCacheTest : public ::testing::Test {
 protected:
  // Prints one device whose description is GGML_VK_VISIBLE_DEVICES as the child saw it, then
  // `junk_bytes` of noise.
  fs::path fake_server(const std::string& name, std::size_t junk_bytes = 0) {
    const fs::path path = scratch_.path() / name;
    std::ofstream(path) << "#!/bin/sh\necho run >> '" << runs_log().string() << "'\n"
                        << "echo 'Available devices:'\n"
                        << "echo \"  Vulkan0: seen-${GGML_VK_VISIBLE_DEVICES:-unset} (100 MiB, 50 MiB free)\"\n"
                        << "head -c " << junk_bytes << " /dev/zero | tr '\\0' x\n";
    fs::permissions(path, fs::perms::owner_all);
    return path;
  }
  fs::path runs_log() const { return scratch_.path() / "runs.log"; }
  int runs() const {
    std::ifstream log(runs_log());
    int lines = 0;
    for (std::string line; std::getline(log, line);) ++lines;
    return lines;
  }

  inference::test::ScratchDirectory scratch_{"server-devices-test"};
};

TEST_F(ServerDevicesCacheTest, TheProbeEnvironmentReachesTheChildAndKeysTheCache) {
  const auto binary = fake_server("llama-server");
  const ProbeEnvironment zero{{"GGML_VK_VISIBLE_DEVICES", "0"}};
  const ProbeEnvironment one{{"GGML_VK_VISIBLE_DEVICES", "1"}};
  EXPECT_EQ(probe_server_devices_blocking(binary, zero).devices.at(0).description, "seen-0");
  EXPECT_EQ(probe_server_devices_blocking(binary, one).devices.at(0).description, "seen-1");
  EXPECT_EQ(probe_server_devices_blocking(binary, zero).devices.at(0).description, "seen-0");
  EXPECT_EQ(runs(), 2) << "the second probe with GGML_VK_VISIBLE_DEVICES=0 ran the binary again";
}

TEST_F(ServerDevicesCacheTest, TheUncachedFormRunsTheBinaryEveryTime) {
  const auto binary = fake_server("llama-server");
  (void)probe_server_devices_blocking(binary, {}, /*cached=*/false);
  (void)probe_server_devices_blocking(binary, {}, /*cached=*/false);
  EXPECT_EQ(runs(), 2);
}

TEST_F(ServerDevicesCacheTest, ReplacingTheBinaryProbesAgain) {
  const auto binary = fake_server("llama-server");
  (void)probe_server_devices_blocking(binary);
  fs::rename(fake_server("llama-server.new", 1), binary);  // an upgrade: new inode and size
  (void)probe_server_devices_blocking(binary);
  EXPECT_EQ(runs(), 2);
}

TEST_F(ServerDevicesCacheTest, OutputBeyondTheLimitIsDroppedAndTheListStillReads) {
  const auto binary = fake_server("llama-server", 4 * kVersionProbeOutputLimit);
  const ServerDeviceList list = probe_server_devices_blocking(binary, {}, /*cached=*/false);
  EXPECT_EQ(list.devices.size(), 1U);
}

TEST_F(ServerDevicesCacheTest, AFailedProbeNamesTheCommandAndIsNotRemembered) {
  const fs::path binary = scratch_.path() / "old-server";
  std::ofstream(binary) << "#!/bin/sh\necho run >> '" << runs_log().string() << "'\n"
                        << "echo 'error: unknown argument: --list-devices' >&2\n";
  fs::permissions(binary, fs::perms::owner_all);
  for (int attempt = 0; attempt < 2; ++attempt) {
    try {
      (void)probe_server_devices_blocking(binary);
      ADD_FAILURE() << "a binary without a device list was accepted";
    } catch (const Error& e) {
      EXPECT_TRUE(e.is(errc::child_start_failed)) << e.what();
      EXPECT_NE(std::string(e.what()).find("--list-devices' printed no device list"), std::string::npos) << e.what();
      EXPECT_NE(e.detail().find("unknown argument"), std::string::npos) << e.detail();
    }
  }
  EXPECT_EQ(runs(), 2);
}

}  // namespace
}  // namespace inference::llama_server

// A stand-in for the device probe (vulkan_devices.hpp's DeviceProbe): answers from a table of
// what each GGML_VK_VISIBLE_DEVICES index lists, and counts the probes, cached or not.
//
// Ownership: the probe shares its state with the FakeDeviceProbe that made it.
// Thread-safety: none; one test thread.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "vulkan_devices.hpp"

namespace inference::vulkan::test {

struct FakeDeviceProbe {
  struct State {
    std::vector<std::string> loaded_backends{"CPU", "Vulkan"};
    std::vector<llama_server::ServerDevice> devices;  // device i answers GGML_VK_VISIBLE_DEVICES=i
    int probes = 0;
    int uncached_probes = 0;
  };
  std::shared_ptr<State> state = std::make_shared<State>();

  void add(const std::string& description, std::uint64_t total_mib, std::uint64_t free_mib) {
    llama_server::ServerDevice device;
    device.name = "Vulkan0";  // as ggml names the one visible device
    device.description = description;
    device.total_mib = total_mib;
    device.free_mib = free_mib;
    state->devices.push_back(device);
  }

  DeviceProbe probe() const {
    return
        [state = state](const std::filesystem::path&, const llama_server::ProbeEnvironment& environment, bool cached) {
          ++state->probes;
          if (!cached) ++state->uncached_probes;
          llama_server::ServerDeviceList list;
          list.loaded_backends = state->loaded_backends;
          const auto visible = environment.find(std::string(kVisibleDevicesVariable));
          const std::size_t index = visible == environment.end() ? 0 : std::stoul(visible->second);
          if (index < state->devices.size()) list.devices.push_back(state->devices[index]);
          return list;
        };
  }
};

}  // namespace inference::vulkan::test

#include "fake_servers.hpp"

#include <fstream>
#include <memory>
#include <stdexcept>

namespace inference::rocm::test {

namespace fs = std::filesystem;

fs::path write_server_stand_in(const FakeSysfs& tree, const std::string& name, std::string_view listing,
                               const fs::path& real_server) {
  std::string script =
      "#!/bin/sh\nfor argument in \"$@\"; do\n  if [ \"$argument\" = --list-devices ]; then\n"
      "    cat <<'LISTING'\n" +
      std::string(listing) + "LISTING\n    exit 0\n  fi\ndone\n";
  script += real_server.empty() ? "exit 0\n" : "exec '" + real_server.string() + "' \"$@\"\n";
  const fs::path path = tree.root() / "bin" / name;
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << script;
  out.close();
  if (!out) throw std::runtime_error("cannot write " + path.string());
  fs::permissions(path, fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
  return path;
}

DeviceProbe fixed_probe(llama_server::ServerDeviceList listing,
                        std::shared_ptr<llama_server::ProbeEnvironment> last_environment) {
  return [listing = std::move(listing), last_environment](const fs::path&,
                                                          const llama_server::ProbeEnvironment& environment) {
    if (last_environment) *last_environment = environment;
    return listing;
  };
}

}  // namespace inference::rocm::test

#include "inference/llama_server/server_version_probe.hpp"

#include <string>

#include "child_spawn.hpp"
#include "probe_child.hpp"

namespace inference::llama_server {

boost::asio::awaitable<ServerVersion> probe_server_version(std::filesystem::path binary,
                                                           std::chrono::milliseconds timeout) {
  detail::ProbeCommand command;
  command.binary = std::move(binary);
  command.arguments.emplace_back("--version");
  command.environment = detail::current_environment();
  const std::string output = co_await detail::run_probe_child(command, timeout);
  if (auto version = parse_server_version(output)) co_return *version;
  detail::throw_probe_failure(command, "printed no version line", output);
}

}  // namespace inference::llama_server

#include "inference/llama_server/rpc_worker_spec.hpp"

#include <boost/asio/ip/address.hpp>

#include "inference/error.hpp"

namespace inference::llama_server {
namespace {

namespace ip = boost::asio::ip;

// The tail of a device line: "(<total> MiB, <free> MiB free)".
constexpr std::string_view kDeviceLineEnd = " MiB free)";
constexpr std::string_view kDeviceIndent = "  ";

std::optional<ip::address> parse_address(std::string_view host) noexcept {
  boost::system::error_code ec;
  const auto address = ip::make_address(std::string(host), ec);
  if (ec) return std::nullopt;
  return address;
}

std::string exposure_refusal(const RpcWorkerSpec& spec) {
  const std::string where = spec.host + ":" + std::to_string(spec.port);
  return "refusing --host " + spec.host + ": ggml-rpc-server has no authentication, so anyone who can reach " + where +
         " could run computations on this machine and read and write the worker's memory buffers; bind 127.0.0.1 "
         "(the default) and tunnel, or pass --allow-remote-bind on a network you trust";
}

}  // namespace

bool is_loopback_host(std::string_view host) noexcept {
  const auto address = parse_address(host);
  if (!address) return false;
  if (address->is_v4()) return address->to_v4().is_loopback();
  const auto v6 = address->to_v6();
  if (v6.is_v4_mapped()) return ip::make_address_v4(ip::v4_mapped, v6).is_loopback();
  return v6.is_loopback();
}

void check_rpc_worker_spec(const RpcWorkerSpec& spec) {
  if (!parse_address(spec.host)) {
    throw Error(errc::invalid_argument,
                "--host '" + spec.host + "' is not an IP address (ggml-rpc-server binds an address, not a name)");
  }
  if (spec.port == 0) throw Error(errc::invalid_argument, "--port must be between 1 and 65535");
  if (spec.threads && *spec.threads < 1) {
    throw Error(errc::invalid_argument, "--threads must be at least 1, not " + std::to_string(*spec.threads));
  }
  for (const auto& device : spec.devices) {
    if (device.empty() || device.find(',') != std::string::npos) {
      throw Error(errc::invalid_argument, "--device '" + device + "' is not a device name");
    }
  }
  if (!spec.allow_remote_bind && !is_loopback_host(spec.host)) {
    throw Error(errc::invalid_argument, exposure_refusal(spec));
  }
  // Observed with the installed build (ggml RPC v8.0.0): given ::1 it lists its devices and exits 0
  // without listening.
  if (!parse_address(spec.host)->is_v4()) {
    throw Error(errc::invalid_argument,
                "--host " + spec.host + ": ggml-rpc-server listens on IPv4 addresses only (use 127.0.0.1)");
  }
}

std::vector<std::string> rpc_worker_arguments(const RpcWorkerSpec& spec) {
  std::vector<std::string> arguments{"-H", spec.host, "-p", std::to_string(spec.port)};
  if (spec.threads) {
    arguments.emplace_back("-t");
    arguments.push_back(std::to_string(*spec.threads));
  }
  if (!spec.devices.empty()) {
    std::string list;
    for (const auto& device : spec.devices) list += (list.empty() ? "" : ",") + device;
    arguments.emplace_back("-d");
    arguments.push_back(std::move(list));
  }
  if (spec.cache) arguments.emplace_back("-c");
  return arguments;
}

std::string rpc_worker_probe_host(std::string_view host) {
  const auto address = parse_address(host);
  if (address && address->is_unspecified()) return address->is_v4() ? "127.0.0.1" : "::1";
  return std::string(host);
}

std::optional<std::string> rpc_worker_device_summary(std::string_view line) {
  if (line.substr(0, kDeviceIndent.size()) != kDeviceIndent) return std::nullopt;
  if (line.size() < kDeviceLineEnd.size() || line.substr(line.size() - kDeviceLineEnd.size()) != kDeviceLineEnd) {
    return std::nullopt;
  }
  line.remove_prefix(kDeviceIndent.size());
  const auto open = line.rfind(" (");
  if (open == std::string_view::npos || line.find(": ") > open) return std::nullopt;
  const auto comma = line.find(',', open);
  if (comma == std::string_view::npos) return std::nullopt;
  return std::string(line.substr(0, open)) + ", " + std::string(line.substr(open + 2, comma - open - 2));
}

}  // namespace inference::llama_server

#include "inference/llama_server/rpc_workers.hpp"

#include <algorithm>
#include <charconv>

#include "inference/error.hpp"

namespace inference::llama_server {

namespace {

[[noreturn]] void refuse(std::string_view value, std::string_view entry, std::string_view why) {
  throw Error(errc::invalid_argument,
              "backend option rpc=" + std::string(value) + ": worker '" + std::string(entry) + "' " + std::string(why));
}

// "HOST:PORT" or "[IPV6]:PORT".
RpcWorker parse_worker(std::string_view value, std::string_view entry) {
  if (entry.empty()) refuse(value, entry, "is empty (expected HOST:PORT)");
  const auto colon = entry.rfind(':');
  if (colon == std::string_view::npos) refuse(value, entry, "has no port (expected HOST:PORT)");
  std::string_view host = entry.substr(0, colon);
  const std::string_view port_text = entry.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    if (host.find(':') == std::string_view::npos) refuse(value, entry, "has brackets around a non-IPv6 host");
  } else if (host.find_first_of(":[]") != std::string_view::npos) {
    refuse(value, entry, "is an IPv6 address without brackets (write [ADDRESS]:PORT)");
  }
  if (host.empty()) refuse(value, entry, "has no host (expected HOST:PORT)");
  uint32_t port = 0;
  const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() || port < 1 ||
      port > 65535) {
    refuse(value, entry, "has a bad port (expected 1 to 65535)");
  }
  return RpcWorker{std::string(host), static_cast<uint16_t>(port)};
}

}  // namespace

std::string RpcWorker::endpoint() const {
  const bool ipv6 = host.find(':') != std::string::npos;
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::vector<RpcWorker> parse_rpc_workers(std::string_view value) {
  std::vector<RpcWorker> workers;
  if (value.empty()) throw Error(errc::invalid_argument, "backend option rpc is empty (expected HOST:PORT,...)");
  std::string_view rest = value;
  for (;;) {
    const auto comma = rest.find(',');
    const std::string_view entry = rest.substr(0, comma);
    RpcWorker worker = parse_worker(value, entry);
    if (std::find(workers.begin(), workers.end(), worker) != workers.end()) {
      refuse(value, entry, "is listed twice");
    }
    if (workers.size() == kMaxRpcWorkers) {
      refuse(value, entry, "is one too many (at most " + std::to_string(kMaxRpcWorkers) + " workers)");
    }
    workers.push_back(std::move(worker));
    if (comma == std::string_view::npos) return workers;
    rest.remove_prefix(comma + 1);
  }
}

std::string rpc_argument(const std::vector<RpcWorker>& workers) {
  std::string out;
  for (const RpcWorker& worker : workers) out += (out.empty() ? "" : ",") + worker.endpoint();
  return out;
}

std::string rpc_serving_device(const std::vector<RpcWorker>& workers) {
  std::string out = "RPC: ";
  for (const RpcWorker& worker : workers) out += (&worker == &workers.front() ? "" : ", ") + worker.endpoint();
  return out + " (+ local CPU)";
}

}  // namespace inference::llama_server

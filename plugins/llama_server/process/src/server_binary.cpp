#include "inference/llama_server/server_binary.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <vector>

#include "inference/error.hpp"
#include "inference/llama_server/engine_option_keys.hpp"

namespace inference::llama_server {
namespace {

// Why `candidate` cannot be run, or std::nullopt when it can.
std::optional<std::string> unusable_reason(const std::filesystem::path& candidate) {
  struct stat info {};
  if (::stat(candidate.c_str(), &info) != 0) {
    return errno == ENOENT ? std::string("does not exist") : std::string(std::strerror(errno));
  }
  if (S_ISDIR(info.st_mode)) return "is a directory";
  if (!S_ISREG(info.st_mode)) return "is not a regular file";
  if (::access(candidate.c_str(), X_OK) != 0) return "is not executable";
  return std::nullopt;
}

// What is looked for, and under which names the user can point at it.
struct BinarySearch {
  std::string_view name;            // the file name searched for on PATH
  std::string_view explicit_label;  // how the explicit path is called in the error ("server_path")
  std::string_view variable;        // the environment variable naming it
  std::string_view hint;            // appended to the error when nothing usable was found
};

constexpr BinarySearch kLlamaServerSearch{kServerBinaryName, "server_path", kServerPathVariable, ""};
constexpr BinarySearch kRpcWorkerSearch{kRpcWorkerBinaryName, "--worker-path", kRpcWorkerPathVariable,
                                        "; install it with scripts/install-llama-server-gpu rpc (or scripts/setup)"};

[[noreturn]] void no_usable_binary(const BinarySearch& search, const std::vector<std::string>& attempts) {
  std::string context = "no usable " + std::string(search.name) + " (tried: ";
  for (std::size_t i = 0; i < attempts.size(); ++i) {
    if (i > 0) context += "; ";
    context += attempts[i];
  }
  context += ")";
  context += search.hint;
  throw Error(errc::child_start_failed, context);
}

// The first usable `search.name` in an absolute $PATH directory; throws when there is none.
std::filesystem::path find_on_path(const BinarySearch& search, const EnvLookup& env,
                                   std::vector<std::string>& attempts) {
  const auto path_variable = env("PATH");
  if (!path_variable || path_variable->empty()) {
    attempts.push_back("PATH not set");
    no_usable_binary(search, attempts);
  }
  // Directories where it simply is not are summed up in one clause (each once); a candidate that
  // exists but cannot be used gets its own reason.
  std::vector<std::string> searched;
  std::string absent_from;
  std::string_view rest = *path_variable;
  while (true) {
    const auto colon = rest.find(':');
    const std::string_view directory = rest.substr(0, colon);
    if (!directory.empty() && directory.front() == '/' &&
        std::find(searched.begin(), searched.end(), directory) == searched.end()) {
      searched.emplace_back(directory);
      const std::filesystem::path candidate = std::filesystem::path(directory) / search.name;
      const auto reason = unusable_reason(candidate);
      if (!reason) return candidate;
      if (std::filesystem::exists(candidate)) {
        attempts.push_back("PATH entry " + candidate.string() + " " + *reason);
      } else {
        absent_from += (absent_from.empty() ? "" : ":") + std::string(directory);
      }
    }
    if (colon == std::string_view::npos) break;
    rest.remove_prefix(colon + 1);
  }
  if (!absent_from.empty()) attempts.push_back("not in PATH directories " + absent_from);
  no_usable_binary(search, attempts);
}

// The precedence find_server_binary() documents, for any binary.
std::filesystem::path find_binary(const BinarySearch& search, const std::optional<std::filesystem::path>& explicit_path,
                                  const EnvLookup& env,
                                  const std::optional<std::filesystem::path>& configured_default) {
  std::vector<std::string> attempts;
  const auto configured = [&](const std::filesystem::path& candidate, const std::string& source) {
    if (const auto reason = unusable_reason(candidate)) {
      attempts.push_back(source + " " + candidate.string() + " " + *reason);
      no_usable_binary(search, attempts);
    }
    return candidate;
  };

  if (explicit_path && !explicit_path->empty()) return configured(*explicit_path, std::string(search.explicit_label));
  attempts.push_back(std::string(search.explicit_label) + " not set");

  const auto from_env = env(search.variable);
  if (from_env && !from_env->empty()) return configured(*from_env, std::string(search.variable));
  attempts.push_back(std::string(search.variable) + " not set");

  if (configured_default && !configured_default->empty()) {
    const auto reason = unusable_reason(*configured_default);
    if (!reason) return *configured_default;
    attempts.push_back("configured default " + configured_default->string() + " " + *reason);
  }
  return find_on_path(search, env, attempts);
}

// "12345" at the start of `text` (digits only), or std::nullopt.
std::optional<int> leading_number(std::string_view text) {
  int value = 0;
  std::size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits])) != 0) {
    if (value > 100'000'000) return std::nullopt;  // not a build number
    value = value * 10 + (text[digits] - '0');
    ++digits;
  }
  if (digits == 0) return std::nullopt;
  return value;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())) != 0) {
    text.remove_prefix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())) != 0) {
    text.remove_suffix(1);
  }
  return text;
}

// One line "version: ..." in either format llama-server builds print:
//   upstream: "version: 6641 (0e1f838a)"
//   Debian:   "version: 0.7.0 (build 11669, commit Debian)"
std::optional<ServerVersion> parse_version_line(std::string_view line) {
  constexpr std::string_view kPrefix = "version: ";
  const auto start = line.find(kPrefix);
  if (start == std::string_view::npos) return std::nullopt;
  std::string_view rest = line.substr(start + kPrefix.size());

  ServerVersion version;
  version.version_line = std::string(trim(line));
  const auto open = rest.find('(');
  const auto close = rest.find(')', open == std::string_view::npos ? 0 : open);
  const std::string_view head = trim(rest.substr(0, open));
  const std::string_view inside = (open != std::string_view::npos && close != std::string_view::npos)
                                      ? rest.substr(open + 1, close - open - 1)
                                      : std::string_view{};

  constexpr std::string_view kBuild = "build ";
  constexpr std::string_view kCommit = "commit ";
  if (const auto build_at = inside.find(kBuild); build_at != std::string_view::npos) {
    const auto build = leading_number(inside.substr(build_at + kBuild.size()));
    if (!build) return std::nullopt;
    version.build = *build;
    if (const auto commit_at = inside.find(kCommit); commit_at != std::string_view::npos) {
      version.commit = std::string(trim(inside.substr(commit_at + kCommit.size())));
    }
  } else {
    const auto build = leading_number(head);
    if (!build || head.size() != std::to_string(*build).size()) return std::nullopt;
    version.build = *build;
    version.commit = std::string(trim(inside));
  }
  version.features = features_for_build(version.build);
  return version;
}

}  // namespace

EnvLookup process_environment_lookup() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* value = std::getenv(std::string(name).c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

std::optional<std::filesystem::path> configured_server_binary() {
  const std::string_view configured = INFERENCE_CONFIGURED_LLAMA_SERVER;
  if (configured.empty()) return std::nullopt;
  return std::filesystem::path(configured);
}

std::optional<std::filesystem::path> configured_runtime_server_binary(
    std::string_view runtime, const std::optional<std::filesystem::path>& configured_default) {
  if (!configured_default || runtime.empty()) return std::nullopt;
  std::filesystem::path candidate = configured_default->parent_path() / ("llama-server-" + std::string(runtime));
  std::error_code ec;
  if (!std::filesystem::is_regular_file(candidate, ec)) return std::nullopt;
  if (::access(candidate.c_str(), X_OK) != 0) return std::nullopt;
  return candidate;
}

std::optional<std::filesystem::path> explicit_server_path(const LoadOptions& options) {
  const auto it = options.backend_options.find(std::string(engine_option::kServerPath.name));
  if (it == options.backend_options.end() || it->second.empty()) return std::nullopt;
  return std::filesystem::path(it->second);
}

std::filesystem::path find_server_binary(const std::optional<std::filesystem::path>& explicit_path,
                                         const EnvLookup& env,
                                         const std::optional<std::filesystem::path>& configured_default) {
  return find_binary(kLlamaServerSearch, explicit_path, env, configured_default);
}

std::optional<std::filesystem::path> configured_rpc_worker_binary(
    const std::optional<std::filesystem::path>& configured_server) {
  if (!configured_server || configured_server->empty()) return std::nullopt;
  return configured_server->parent_path() / kRpcWorkerBinaryName;
}

std::filesystem::path find_rpc_worker_binary(const std::optional<std::filesystem::path>& explicit_path,
                                             const EnvLookup& env,
                                             const std::optional<std::filesystem::path>& configured_default) {
  return find_binary(kRpcWorkerSearch, explicit_path, env, configured_default);
}

ServerFeatures features_for_build(int build) noexcept {
  if (build == 0) return ServerFeatures{true, true, true};
  return ServerFeatures{
      build >= kFirstBuildWithUnixSocket,
      build >= kFirstBuildWithNoWebui,
      build >= kFirstBuildWithOffline,
  };
}

std::optional<ServerVersion> parse_server_version(std::string_view output) {
  while (!output.empty()) {
    const auto newline = output.find('\n');
    if (auto version = parse_version_line(output.substr(0, newline))) return version;
    if (newline == std::string_view::npos) break;
    output.remove_prefix(newline + 1);
  }
  return std::nullopt;
}

}  // namespace inference::llama_server

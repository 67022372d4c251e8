#include "inference/llama_server/server_binary.hpp"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <vector>

#include "child_spawn.hpp"
#include "inference/error.hpp"
#include "inference/llama_server/engine_option_keys.hpp"
#include "inference/llama_server/output_ring.hpp"

namespace inference::llama_server {
namespace {

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;

// Output lines quoted when the probe fails.
constexpr std::size_t kProbeTailLines = 10;

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

[[noreturn]] void no_usable_binary(const std::vector<std::string>& attempts) {
  std::string context = "no usable llama-server (tried: ";
  for (std::size_t i = 0; i < attempts.size(); ++i) {
    if (i > 0) context += "; ";
    context += attempts[i];
  }
  context += ")";
  throw Error(errc::child_start_failed, context);
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

// How the wait for the probe's child ended. Unless it exited, the child still runs.
struct ProbeOutcome {
  enum class End { exited, timed_out, cancelled };
  End end = End::timed_out;
  int wait_status = 0;  // when it exited
};

asio::awaitable<void> read_until_eof(asio::readable_pipe& pipe, std::string& output) {
  std::array<char, 4096> buffer{};
  for (;;) {
    boost::system::error_code ec;
    const std::size_t n =
        co_await pipe.async_read_some(asio::buffer(buffer), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;  // EOF (or a broken pipe): the child is done talking
    // Keep draining beyond the limit so the child never blocks on a full pipe.
    const std::size_t room = kVersionProbeOutputLimit - std::min(output.size(), kVersionProbeOutputLimit);
    output.append(buffer.data(), std::min(n, room));
  }
}

asio::awaitable<ProbeOutcome> run_probe(detail::SpawnedChild& child, std::string& output,
                                        std::chrono::milliseconds timeout) {
  asio::steady_timer deadline(co_await asio::this_coro::executor, timeout);
  const auto read = co_await (read_until_eof(child.output, output) ||
                              deadline.async_wait(asio::use_awaitable));
  if (read.index() == 1) co_return ProbeOutcome{};
  const auto exited = co_await (child.handle.async_wait(asio::use_awaitable) ||
                                deadline.async_wait(asio::use_awaitable));
  if (exited.index() == 1) co_return ProbeOutcome{};
  co_return ProbeOutcome{ProbeOutcome::End::exited, std::get<0>(exited)};
}

// run_probe(), with a failed or cancelled wait as an outcome rather than an exception.
asio::awaitable<ProbeOutcome> wait_for_probe(detail::SpawnedChild& child, std::string& output,
                                             std::chrono::milliseconds timeout) {
  try {
    co_return co_await run_probe(child, output, timeout);
  } catch (const std::exception&) {
    // The wait failed or was cancelled; judged below, the child killed by the caller.
  }
  const asio::cancellation_state cancellation = co_await asio::this_coro::cancellation_state;
  const bool cancelled = cancellation.cancelled() != asio::cancellation_type::none;
  co_return ProbeOutcome{cancelled ? ProbeOutcome::End::cancelled : ProbeOutcome::End::timed_out};
}

std::string describe_status(int wait_status) {
  if (WIFEXITED(wait_status)) return "exited with status " + std::to_string(WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) return "was killed by signal " + std::to_string(WTERMSIG(wait_status));
  return "ended with wait status " + std::to_string(wait_status);
}

// The version the probe's outcome and output show, or the failure naming the binary.
ServerVersion judge_probe(const std::filesystem::path& binary, const ProbeOutcome& result, const std::string& output,
                          std::chrono::milliseconds timeout) {
  OutputRing ring;
  ring.append(output);
  const auto fail = [&](const std::string& what) -> ServerVersion {
    throw Error(errc::child_start_failed, "'" + binary.string() + " --version' " + what,
                ring.tail_text(kProbeTailLines));
  };
  switch (result.end) {
    case ProbeOutcome::End::cancelled:
      throw Error(errc::cancelled, "probing '" + binary.string() + " --version'");
    case ProbeOutcome::End::timed_out:
      return fail("did not finish within " + std::to_string(timeout.count()) + " ms");
    case ProbeOutcome::End::exited:
      break;
  }
  if (!WIFEXITED(result.wait_status) || WEXITSTATUS(result.wait_status) != 0) {
    return fail(describe_status(result.wait_status));
  }
  if (auto version = parse_server_version(output)) return *version;
  return fail("printed no version line");
}

asio::awaitable<ServerVersion> probe_on_strand(std::filesystem::path binary, std::chrono::milliseconds timeout) {
  // Member by member: g++ 12 mishandles braced aggregates that own memory inside coroutines.
  detail::SpawnRequest request;
  request.executable = binary;
  request.arguments.emplace_back("--version");
  request.environment = detail::current_environment();
  auto child = detail::spawn_child(co_await asio::this_coro::executor, request);
  std::string output;
  const ProbeOutcome result = co_await wait_for_probe(child, output, timeout);
  // Not reaped yet: kill it (and anything it started) before judging, so nothing outlives the probe.
  if (result.end != ProbeOutcome::End::exited) detail::kill_group_and_reap(child.pid);
  co_return judge_probe(binary, result, output, timeout);
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

std::optional<std::filesystem::path> explicit_server_path(const LoadOptions& options) {
  const auto it = options.backend_options.find(std::string(engine_option::kServerPath.name));
  if (it == options.backend_options.end() || it->second.empty()) return std::nullopt;
  return std::filesystem::path(it->second);
}

std::filesystem::path find_server_binary(const std::optional<std::filesystem::path>& explicit_path,
                                         const EnvLookup& env,
                                         const std::optional<std::filesystem::path>& configured_default) {
  std::vector<std::string> attempts;
  const auto configured = [&](const std::filesystem::path& candidate, const std::string& source) {
    if (const auto reason = unusable_reason(candidate)) {
      attempts.push_back(source + " " + candidate.string() + " " + *reason);
      no_usable_binary(attempts);
    }
    return candidate;
  };

  if (explicit_path && !explicit_path->empty()) return configured(*explicit_path, "server_path");
  attempts.push_back("server_path not set");

  const auto from_env = env(kServerPathVariable);
  if (from_env && !from_env->empty()) {
    return configured(*from_env, std::string(kServerPathVariable));
  }
  attempts.push_back(std::string(kServerPathVariable) + " not set");

  if (configured_default && !configured_default->empty()) {
    const auto reason = unusable_reason(*configured_default);
    if (!reason) return *configured_default;
    attempts.push_back("configured default " + configured_default->string() + " " + *reason);
  }

  const auto path_variable = env("PATH");
  if (!path_variable || path_variable->empty()) {
    attempts.push_back("PATH not set");
    no_usable_binary(attempts);
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
      const std::filesystem::path candidate = std::filesystem::path(directory) / kServerBinaryName;
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
  no_usable_binary(attempts);
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

asio::awaitable<ServerVersion> probe_server_version(std::filesystem::path binary, std::chrono::milliseconds timeout) {
  // On a strand: the probe races its reads and the child's exit with a deadline (awaitable
  // operators), whose cancellation slots must not be touched from two threads at once, and the
  // caller's executor may be a multi-threaded io_context.
  const auto strand = asio::make_strand(co_await asio::this_coro::executor);
  co_return co_await asio::co_spawn(strand, probe_on_strand(std::move(binary), timeout), asio::use_awaitable);
}

}  // namespace inference::llama_server

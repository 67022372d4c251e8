#include "inference/llama_server/server_version_probe.hpp"

#include <sys/wait.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <string>

#include "child_spawn.hpp"
#include "inference/error.hpp"
#include "inference/llama_server/output_ring.hpp"

namespace inference::llama_server {
namespace {

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;

// Output lines quoted when the probe fails.
constexpr std::size_t kProbeTailLines = 10;

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
  const auto read = co_await (read_until_eof(child.output, output) || deadline.async_wait(asio::use_awaitable));
  if (read.index() == 1) co_return ProbeOutcome{};
  const auto exited =
      co_await (child.handle.async_wait(asio::use_awaitable) || deadline.async_wait(asio::use_awaitable));
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

asio::awaitable<ServerVersion> probe_server_version(std::filesystem::path binary, std::chrono::milliseconds timeout) {
  // On a strand: the probe races its reads and the child's exit with a deadline (awaitable
  // operators), whose cancellation slots must not be touched from two threads at once, and the
  // caller's executor may be a multi-threaded io_context.
  const auto strand = asio::make_strand(co_await asio::this_coro::executor);
  co_return co_await asio::co_spawn(strand, probe_on_strand(std::move(binary), timeout), asio::use_awaitable);
}

}  // namespace inference::llama_server

#include "probe_child.hpp"

#include <sys/wait.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "child_spawn.hpp"
#include "inference/error.hpp"
#include "inference/llama_server/output_ring.hpp"
#include "inference/llama_server/server_version_probe.hpp"

namespace inference::llama_server::detail {
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

asio::awaitable<ProbeOutcome> run_probe(SpawnedChild& child, std::string& output, std::chrono::milliseconds timeout) {
  asio::steady_timer deadline(co_await asio::this_coro::executor, timeout);
  const auto read = co_await (read_until_eof(child.output, output) || deadline.async_wait(asio::use_awaitable));
  if (read.index() == 1) co_return ProbeOutcome{};
  const auto exited =
      co_await (child.handle.async_wait(asio::use_awaitable) || deadline.async_wait(asio::use_awaitable));
  if (exited.index() == 1) co_return ProbeOutcome{};
  co_return ProbeOutcome{ProbeOutcome::End::exited, std::get<0>(exited)};
}

// run_probe(), with a failed or cancelled wait as an outcome rather than an exception.
asio::awaitable<ProbeOutcome> wait_for_probe(SpawnedChild& child, std::string& output,
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

// Throws unless the child exited successfully.
void judge_outcome(const ProbeCommand& command, const ProbeOutcome& result, const std::string& output,
                   std::chrono::milliseconds timeout) {
  switch (result.end) {
    case ProbeOutcome::End::cancelled:
      throw Error(errc::cancelled, "probing " + describe_command(command));
    case ProbeOutcome::End::timed_out:
      throw_probe_failure(command, "did not finish within " + std::to_string(timeout.count()) + " ms", output);
    case ProbeOutcome::End::exited:
      break;
  }
  if (!WIFEXITED(result.wait_status) || WEXITSTATUS(result.wait_status) != 0) {
    throw_probe_failure(command, describe_status(result.wait_status), output);
  }
}

asio::awaitable<std::string> probe_on_strand(ProbeCommand command, std::chrono::milliseconds timeout) {
  // Member by member: g++ 12 mishandles braced aggregates that own memory inside coroutines.
  SpawnRequest request;
  request.executable = command.binary;
  request.arguments = command.arguments;
  request.environment = command.environment;
  auto child = spawn_child(co_await asio::this_coro::executor, request);
  std::string output;
  const ProbeOutcome result = co_await wait_for_probe(child, output, timeout);
  // Not reaped yet: kill it (and anything it started) before judging, so nothing outlives the probe.
  if (result.end != ProbeOutcome::End::exited) kill_group_and_reap(child.pid);
  judge_outcome(command, result, output, timeout);
  co_return output;
}

}  // namespace

std::string describe_command(const ProbeCommand& command) {
  std::string text = "'" + command.binary.string();
  for (const std::string& argument : command.arguments) text += " " + argument;
  return text + "'";
}

void throw_probe_failure(const ProbeCommand& command, const std::string& what, const std::string& output) {
  OutputRing ring;
  ring.append(output);
  throw Error(errc::child_start_failed, describe_command(command) + " " + what, ring.tail_text(kProbeTailLines));
}

asio::awaitable<std::string> run_probe_child(ProbeCommand command, std::chrono::milliseconds timeout) {
  // On a strand: the probe races its reads and the child's exit with a deadline (awaitable
  // operators), whose cancellation slots must not be touched from two threads at once, and the
  // caller's executor may be a multi-threaded io_context.
  const auto strand = asio::make_strand(co_await asio::this_coro::executor);
  co_return co_await asio::co_spawn(strand, probe_on_strand(std::move(command), timeout), asio::use_awaitable);
}

}  // namespace inference::llama_server::detail

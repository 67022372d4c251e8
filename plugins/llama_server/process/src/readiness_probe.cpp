#include "inference/llama_server/readiness_probe.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <string>
#include <string_view>
#include <variant>

#include "inference/error.hpp"
#include "inference/llama_server/http_connection.hpp"
#include "inference/llama_server/server_error.hpp"

namespace inference::llama_server {
namespace {

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;

bool says_ok(const std::string& body) {
  boost::system::error_code ec;
  const auto value = boost::json::parse(body, ec);
  if (ec || !value.is_object()) return false;
  const auto* status = value.as_object().if_contains("status");
  return status != nullptr && status->is_string() && status->as_string() == "ok";
}

// One GET /health. Returns true when ready; otherwise records why not in `last_outcome`.
asio::awaitable<bool> ask_health(HttpConnection& connection, std::string& last_outcome) {
  try {
    const HttpResponse response = co_await connection.request(HttpMethod::get, "/health");
    if (response.status == 200 && says_ok(response.body)) co_return true;
    last_outcome = "/health answered " + std::to_string(response.status) + " " + response.body;
  } catch (const ServerError& error) {
    last_outcome = error.what();  // 503 "Loading model" while it loads
  } catch (const Error& error) {
    if (error.is(errc::cancelled)) throw;
    last_outcome = error.what();  // not listening yet (no socket file, refused) or closed
  }
  co_return false;
}

// One /health, bounded by kHealthRequestTimeout. Returns true when ready.
asio::awaitable<bool> ask_health_bounded(HttpConnection& connection, asio::steady_timer& timer,
                                         std::string& last_outcome) {
  timer.expires_after(kHealthRequestTimeout);
  const auto answer = co_await (ask_health(connection, last_outcome) || timer.async_wait(asio::use_awaitable));
  if (answer.index() == 0) co_return std::get<0>(answer);
  connection.close();
  last_outcome = "/health did not answer within " + std::to_string(kHealthRequestTimeout.count()) + " ms";
  co_return false;
}

// Asks /health whenever the server prints a line that suggests it is ready (kReadinessMarkers),
// and every kReadinessRecheckInterval in case it never prints one. Never returns otherwise; the
// caller races it against exit and deadline.
asio::awaitable<void> wait_until_healthy(asio::any_io_executor executor, const ServerEndpoint& endpoint,
                                         ServerProcess& process, std::string& last_outcome) {
  HttpConnection connection(executor, endpoint);
  asio::steady_timer timer(executor);
  for (;;) {
    // Counted before asking, so that a line printed while /health answers "not yet" still wakes us.
    const uint64_t seen = process.readiness_lines();
    if (co_await ask_health_bounded(connection, timer, last_outcome)) co_return;
    timer.expires_after(kReadinessRecheckInterval);
    co_await (process.async_wait_readiness_line(seen) || timer.async_wait(asio::use_awaitable));
  }
}

// llama-server logs "<time> <level> <message>"; a start that fails logs its root cause as the
// first error-level line ("E"), later ones are consequences ("failed to load model"). Argument
// errors come before logging starts, as "error: ...".
constexpr std::string_view kErrorLevel = "E";
constexpr std::string_view kPlainErrorPrefix = "error: ";

// The first line of `output` that reports an error, without its time and level, or "".
std::string first_error_line(std::string_view output) {
  while (!output.empty()) {
    const auto end = output.find('\n');
    std::string_view line = output.substr(0, end);
    output = end == std::string_view::npos ? std::string_view() : output.substr(end + 1);
    if (line.starts_with(kPlainErrorPrefix)) return std::string(line);
    const auto level_at = line.find(' ');
    if (level_at == std::string_view::npos) continue;
    std::string_view rest = line.substr(level_at + 1);
    if (rest.starts_with(kErrorLevel) && rest.size() > kErrorLevel.size() && rest[kErrorLevel.size()] == ' ') {
      return std::string(rest.substr(kErrorLevel.size() + 1));
    }
  }
  return {};
}

}  // namespace

asio::awaitable<void> wait_until_ready(asio::any_io_executor executor, const ServerEndpoint& endpoint,
                                       ServerProcess& process, std::chrono::milliseconds timeout) {
  const std::string who = "llama-server (pid " + std::to_string(process.pid()) + ", " + endpoint.describe() + ")";
  std::string last_outcome = "no answer yet";
  asio::steady_timer deadline(executor, timeout);

  std::variant<std::monostate, ExitStatus, std::monostate> outcome;
  try {
    outcome = co_await (wait_until_healthy(executor, endpoint, process, last_outcome) || process.async_wait_exit() ||
                        deadline.async_wait(asio::use_awaitable));
  } catch (const boost::system::system_error& error) {
    if (error.code() != asio::error::operation_aborted) throw;
    throw Error(errc::cancelled, "waiting for " + who + " to become ready");
  }
  switch (outcome.index()) {
    case 0:
      co_return;
    case 1: {
      const ExitStatus& status = std::get<1>(outcome);
      // The cause in the one line; the whole tail in the detail.
      const std::string cause = first_error_line(status.output_tail);
      throw Error(errc::child_start_failed,
                  who + " " + status.describe() + " before it was ready" + (cause.empty() ? "" : ": " + cause),
                  status.output_tail);
    }
    default:
      throw Error(errc::load_timeout,
                  who + " was not ready after " + std::to_string(timeout.count()) + " ms (" + last_outcome + ")",
                  process.output_tail());
  }
}

}  // namespace inference::llama_server

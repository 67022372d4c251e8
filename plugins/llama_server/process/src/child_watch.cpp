#include "child_watch.hpp"

#include <signal.h>
#include <sys/wait.h>

#include <array>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <string_view>

namespace inference::llama_server::detail {

namespace asio = boost::asio;

namespace {

// The child writes in pipe-buffer sized bursts at most.
constexpr std::size_t kOutputReadChunk = 4096;

ExitStatus exit_status_from_wait(int wait_status, const boost::system::error_code& ec) {
  ExitStatus status;
  if (ec) return status;  // reaped by someone else (an owner's destructor): unknown
  if (WIFEXITED(wait_status)) status.exit_code = WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) status.signal = WTERMSIG(wait_status);
  return status;
}

}  // namespace

asio::awaitable<void> pump_child_output(SpawnedChild& child, OutputRing& ring, bool& output_closed,
                                        asio::steady_timer& output_drained) {
  std::array<char, kOutputReadChunk> buffer{};
  for (;;) {
    boost::system::error_code ec;
    const std::size_t n =
        co_await child.output.async_read_some(asio::buffer(buffer), asio::redirect_error(asio::use_awaitable, ec));
    if (n > 0) ring.append(std::string_view(buffer.data(), n));
    if (ec) break;  // EOF: the child and everything it forked closed their output
  }
  output_closed = true;
  output_drained.cancel();
}

asio::awaitable<ExitStatus> reap_child(SpawnedChild& child, OutputRing& ring, const bool& output_closed,
                                       asio::steady_timer& output_drained, const std::function<void()>& on_reaped) {
  boost::system::error_code ec;
  const int wait_status = co_await child.handle.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  on_reaped();
  ::kill(-child.pid, SIGKILL);
  if (!output_closed) {
    output_drained.expires_after(kOutputDrainAfterExit);
    boost::system::error_code ignored;
    co_await output_drained.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  }
  ring.flush_sink();
  ExitStatus status = exit_status_from_wait(wait_status, ec);
  status.output_tail = ring.tail_text(kErrorTailLines);
  co_return status;
}

}  // namespace inference::llama_server::detail

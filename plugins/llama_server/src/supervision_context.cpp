#include "supervision_context.hpp"

#include <boost/asio/post.hpp>
#include <future>

namespace inference::llama_server::detail {

namespace asio = boost::asio;

SupervisionContext& SupervisionContext::instance() {
  static SupervisionContext context;
  return context;
}

SupervisionContext::SupervisionContext() : work_(io_.get_executor()), thread_([this] { io_.run(); }) {}

SupervisionContext::~SupervisionContext() {
  work_.reset();
  io_.stop();
  thread_.join();
  // io_ is destroyed next: its services shut down and ServerSupervisors still registered there
  // kill and reap their servers (a model kept in a global outlives this object).
}

void SupervisionContext::run_on_thread(const std::function<void()>& job) {
  if (io_.get_executor().running_in_this_thread()) return job();
  std::packaged_task<void()> task(job);
  auto done = task.get_future();
  asio::post(io_, [&task] { task(); });
  done.get();
}

}  // namespace inference::llama_server::detail

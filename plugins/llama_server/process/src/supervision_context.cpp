#include "supervision_context.hpp"

#include <unistd.h>
#include <boost/asio/post.hpp>

#include <future>
#include <memory>
#include <mutex>
#include <vector>

namespace inference::llama_server::detail {

namespace asio = boost::asio;

namespace {

// The process' instance. A fork() copies the object but not its thread: a forked child (a host
// that forks, a test) gets an instance of its own, and the parent's copy is left alone, kept
// reachable so that it is not reported as a leak.
struct Holder {
  std::mutex mutex;
  std::unique_ptr<SupervisionContext> context;
  pid_t owner = 0;
  std::vector<std::unique_ptr<SupervisionContext>> inherited;  // from a parent: no thread here

  ~Holder() {
    if (owner != ::getpid()) inherited.push_back(std::move(context));
    for (auto& stale : inherited) (void)stale.release();  // never destroyed: nothing to join
  }
};

}  // namespace

SupervisionContext& SupervisionContext::instance() {
  static Holder holder;
  std::lock_guard lock(holder.mutex);
  if (!holder.context || holder.owner != ::getpid()) {
    if (holder.context) holder.inherited.push_back(std::move(holder.context));
    holder.context.reset(new SupervisionContext());
    holder.owner = ::getpid();
  }
  return *holder.context;
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

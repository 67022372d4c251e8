#include "llama_cpp_fixture.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json/parse.hpp>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "inference/error.hpp"
#include "inference/llama_server/http_connection.hpp"
#include "support/test_inputs.hpp"

namespace inference::llama_cpp::test {

namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace {

// How often /proc is looked at while waiting for a process to vanish.
constexpr std::chrono::milliseconds kProcPollInterval{5};

}  // namespace

fs::path test_server_binary() { return inference::test::llama_server_for_tests(); }

fs::path test_model_path() { return inference::test::tiny_model_for_tests(); }

std::optional<std::string> skip_reason() { return inference::test::llama_server_skip_reason(); }

LoadOptions tiny_options(uint32_t slots, uint32_t context_per_slot) {
  LoadOptions options;
  options.backend_options["server_path"] = test_server_binary().string();
  options.parallel_slots = slots;
  options.context_len = context_per_slot;
  options.gpu_layers = 0;
  options.backend_options["server_args"] = "-t\n1";  // one argument per line
  return options;
}

asio::awaitable<std::shared_ptr<LlamaServerModel>> load_tiny(LoadOptions options) {
  std::string path = test_model_path().string();
  co_return co_await LlamaServerModel::load(std::move(path), std::move(options));
}

// Loads `model` with `options` and returns the error it fails with (or std::nullopt).
std::optional<Error> load_error(std::string model, LoadOptions options) {
  std::optional<Error> failure;
  run_test([&]() -> asio::awaitable<void> {
    try {
      auto loaded = co_await LlamaServerModel::load(model, options);
      co_await loaded->close();
    } catch (const Error& e) {
      failure = e;
    }
  });
  return failure;
}

void run_test(std::function<asio::awaitable<void>()> make, int threads) {
  asio::io_context io(threads);
  auto done = asio::co_spawn(io, std::move(make), asio::use_future);
  std::atomic<int> idle_workers{0};
  std::vector<std::thread> workers;
  for (int i = 0; i < threads; ++i) {
    workers.emplace_back([&io, &idle_workers] {
      io.run();
      idle_workers.fetch_add(1);
    });
  }
  const bool finished = done.wait_for(kTestBudget) == std::future_status::ready;
  // Once the test is done the engine must wind down on its own: io.run() returns when no work
  // (supervision loop, stream, process watcher) is left.
  const auto drain_deadline = std::chrono::steady_clock::now() + kConditionDeadline;
  while (finished && idle_workers.load() < threads && std::chrono::steady_clock::now() < drain_deadline) {
    std::this_thread::sleep_for(kProcPollInterval);  // polling the workers: no event to wait on
  }
  const bool drained = idle_workers.load() == threads;
  if (!drained) io.stop();
  for (auto& worker : workers) worker.join();
  if (!finished) {
    ADD_FAILURE() << "the test coroutine did not finish within " << kTestBudget.count() << " s";
    return;
  }
  EXPECT_TRUE(drained) << "work was left on the io_context after the test finished";
  done.get();
}

asio::awaitable<bool> wait_until(std::function<bool()> condition, std::chrono::milliseconds timeout,
                                 std::chrono::milliseconds interval) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    if (condition()) co_return true;
    if (std::chrono::steady_clock::now() > deadline) co_return false;
    timer.expires_after(interval);
    co_await timer.async_wait(asio::use_awaitable);
  }
}

ServerEndpoint endpoint_of(const LlamaServerModel& model) {
  auto endpoint = model.server_endpoint();
  if (!endpoint) throw std::runtime_error("the model has no running server");
  return *endpoint;
}

namespace {

int count_processing(const std::string& body) {
  const auto doc = boost::json::parse(body);
  int busy = 0;
  for (const auto& slot : doc.as_array()) {
    const auto* processing = slot.as_object().if_contains("is_processing");
    if (processing != nullptr && processing->is_bool() && processing->as_bool()) ++busy;
  }
  return busy;
}

}  // namespace

asio::awaitable<int> slots_processing(const ServerEndpoint& endpoint) {
  llama_server::HttpConnection connection(co_await asio::this_coro::executor, endpoint);
  const auto response = co_await connection.request(llama_server::HttpMethod::get, "/slots");
  co_return count_processing(response.body);
}

std::shared_ptr<SlotSampler> SlotSampler::start(const asio::any_io_executor& executor, ServerEndpoint endpoint) {
  auto sampler = std::make_shared<SlotSampler>();
  asio::co_spawn(
      executor, [sampler, endpoint]() -> asio::awaitable<void> { co_await sampler->run(endpoint); }, asio::detached);
  return sampler;
}

asio::awaitable<void> SlotSampler::run(ServerEndpoint endpoint) {
  try {
    llama_server::HttpConnection connection(co_await asio::this_coro::executor, endpoint);
    while (!stop_.load()) {
      const auto response = co_await connection.request(llama_server::HttpMethod::get, "/slots");
      const int busy = count_processing(response.body);
      samples_.fetch_add(1);
      int seen = max_processing_.load();
      while (busy > seen && !max_processing_.compare_exchange_weak(seen, busy)) {
      }
    }
  } catch (const std::exception& e) {
    ADD_FAILURE() << "sampling GET /slots failed: " << e.what();
  }
  done_.store(true);
}

asio::awaitable<void> SlotSampler::stop() {
  stop_.store(true);
  const bool finished = co_await wait_until([this] { return done_.load(); });
  EXPECT_TRUE(finished) << "the /slots sampler did not stop";
}

bool process_exists(pid_t pid) { return fs::exists("/proc/" + std::to_string(pid)); }

bool wait_process_gone(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    ::waitpid(pid, nullptr, WNOHANG);  // reaps it if it is ours (child or, as subreaper, orphan)
    if (!process_exists(pid)) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(kProcPollInterval);  // polling /proc: there is no event to wait on
  }
}

bool no_children_left() {
  for (const auto& task : fs::directory_iterator("/proc/self/task")) {
    std::ifstream children(task.path() / "children");
    std::stringstream content;
    content << children.rdbuf();
    if (content.str().find_first_not_of(" \n") != std::string::npos) return false;
  }
  return true;
}

}  // namespace inference::llama_cpp::test

// Several generations at once on one model, as a server would run them: more requests than the
// model has slots (the others wait in its queue), one cancelled by its reader after the first
// token, one with a deadline it cannot meet, a chat, each request's metrics and the model's
// counters, and a clean shutdown on Ctrl-C: every stream is cancelled, the model is closed and no
// llama-server is left behind.
//
//   concurrent MODEL.gguf [MAX_TOKENS]
//
// One thread runs everything (main's io_context): the coroutines share the job list without
// locks. The model does its own work on strands of the same io_context.
#include <inference/inference.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;

constexpr uint32_t kSlots = 4;
constexpr int32_t kDefaultMaxTokens = 64;
// The deadline request is sent last, so it waits behind four stories that each take far longer
// than this to free a slot: it fails in the queue with deadline_exceeded and never takes a slot.
constexpr auto kTightDeadline = 10ms;
constexpr int kExitInterrupted = 128 + SIGINT;  // what a shell reports for Ctrl-C

// One request and what its reader saw.
struct Job {
  std::string name;
  inference::TokenStream stream;
  bool cancel_after_first_token = false;
  std::string text;
};

// Reads one stream to its end. An error (deadline_exceeded, child_exited, ...) or Asio
// cancellation (Ctrl-C) ends the stream; stream.result() says which.
asio::awaitable<void> read(Job& job) {
  try {
    while (auto token = co_await job.stream.next()) {
      job.text += token->text;
      if (job.cancel_after_first_token) job.stream.cancel();  // the reader lost interest
    }
  } catch (const inference::Error&) {
  }
}

// Reads every stream at once and returns when all have ended. Cancelling this operation cancels
// each pending next(), which cancels the request behind it.
asio::awaitable<void> read_all(std::vector<Job>& jobs) {
  auto executor = co_await asio::this_coro::executor;
  using Reader = decltype(asio::co_spawn(executor, read(jobs.front()), asio::deferred));
  std::vector<Reader> readers;
  for (auto& job : jobs) readers.push_back(asio::co_spawn(executor, read(job), asio::deferred));
  co_await asio::experimental::make_parallel_group(std::move(readers))
      .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
}

double milliseconds(std::chrono::nanoseconds duration) {
  return std::chrono::duration<double, std::milli>(duration).count();
}

// The model's text on one line: it may contain newlines.
std::string one_line(std::string text) {
  for (char& c : text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return text;
}

void print_report(const std::vector<Job>& jobs, const inference::ModelStats& stats) {
  for (const auto& job : jobs) {
    const inference::GenerateResult result = job.stream.result();
    std::string outcome(inference::to_string(result.finish_reason));
    if (result.error) outcome += " (" + result.error.message() + ")";
    std::printf("%-9s %-28s %3llu tokens, queued %6.1f ms, first token after %6.1f ms | %s\n", job.name.c_str(),
                outcome.c_str(), static_cast<unsigned long long>(result.metrics.generated_tokens),
                milliseconds(result.metrics.queue_wait), milliseconds(result.metrics.time_to_first_token),
                one_line(job.text).c_str());
  }
  std::printf("model: %u slots, at most %llu busy at once, %llu requests, %llu tokens served, %llu restarts\n",
              stats.slots_total, static_cast<unsigned long long>(stats.max_in_flight),
              static_cast<unsigned long long>(stats.requests_total),
              static_cast<unsigned long long>(stats.tokens_served), static_cast<unsigned long long>(stats.restarts));
}

// Returns whether the run was interrupted.
asio::awaitable<bool> run(inference::Registry& registry, asio::signal_set& signals, std::string model_path,
                          int32_t max_tokens) {
  inference::LoadOptions options;
  options.parallel_slots = kSlots;
  // A Ctrl-C during the load is kept by the signal_set and cancels the streams right after it.
  auto model = co_await registry.load_model(model_path, options);

  inference::GenerateConfig config;
  config.max_tokens = max_tokens;
  config.temperature = 0.0f;  // greedy: the same text on every run

  // Every request starts the moment it is made; the first four take the slots, the rest queue.
  std::vector<Job> jobs;
  for (const char* prompt : {"Once upon a time", "The river", "In the city", "A letter arrived"}) {
    jobs.push_back({"story", model->generate(prompt, config)});
    jobs.back().name += std::to_string(jobs.size());
  }
  jobs.push_back({"cancelled", model->generate("The old tower", config), true});

  std::vector<inference::Message> messages{{"system", "You answer in one sentence."}, {"user", "What is a river?"}};
  jobs.push_back({"chat", model->chat(messages, config)});

  inference::GenerateConfig hurried = config;
  hurried.with_timeout(kTightDeadline);
  jobs.push_back({"deadline", model->generate("Under the bridge", hurried)});

  std::cout << "started " << jobs.size() << " streams over " << model->stats().slots_total
            << " slots (Ctrl-C cancels them)" << std::endl;

  // Whichever ends first: all streams, or Ctrl-C/SIGTERM, which cancels the readers that are
  // still waiting (and with them their requests, queued or running).
  const auto ended = co_await (read_all(jobs) || signals.async_wait(asio::use_awaitable));
  const bool interrupted = ended.index() == 1;
  if (interrupted) {
    // Cancelling read_all() cancels the next() each reader is waiting in; a reader caught between
    // two tokens leaves through its coroutine's cancellation before it calls next() again, so its
    // stream would run on. Cancel every stream explicitly (a no-op for those already ended).
    for (auto& job : jobs) job.stream.cancel();
    std::cout << "interrupted: streams cancelled" << std::endl;
  }

  print_report(jobs, model->stats());
  co_await model->close();  // stops the llama-server child (and reaps it) before returning
  std::cout << "model closed" << std::endl;
  co_return interrupted;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: concurrent MODEL.gguf [MAX_TOKENS]\n";
    return 2;
  }
  const int32_t max_tokens = argc > 2 ? std::atoi(argv[2]) : kDefaultMaxTokens;
  if (max_tokens <= 0) {
    std::cerr << "MAX_TOKENS must be a positive number\n";
    return 2;
  }

  inference::Registry registry;
  inference::PluginSearch search;
  search.directories.push_back(INFERENCE_PLUGIN_DIR);  // from find_package(inference)
  for (const auto& failure : registry.load_plugins(search)) std::cerr << "plugin skipped: " << failure.message << "\n";

  asio::io_context io;
  // Registered before anything starts and kept until the end, so a Ctrl-C at any moment is
  // handled here instead of killing the process with its llama-server mid-request.
  asio::signal_set signals(io, SIGINT, SIGTERM);
  int status = 0;
  asio::co_spawn(io, run(registry, signals, argv[1], max_tokens),
                 [&status](std::exception_ptr failure, bool interrupted) {
                   if (interrupted) status = kExitInterrupted;
                   if (!failure) return;
                   try {
                     std::rethrow_exception(failure);
                   } catch (const std::exception& e) {  // inference::Error names the cause
                     std::cerr << "error: " << e.what() << "\n";
                     status = 1;
                   }
                 });
  io.run();
  return status;
}

// llmctl demo: the main job made visible. Loads one model (on the best available backend unless
// --backend names one, saying which and the device it runs on) and runs several generations at once
// over its slots; on a terminal every stream is a line redrawn as its tokens arrive (queued,
// running, done), elsewhere each stream is printed when it finishes; a finished stream shows the
// replica and slot that served it (rN/sM). Ends with the model's stats, which show that no more
// requests ran at once than there are slots, and what each replica served.
#include <fmt/core.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "command_context.hpp"
#include "commands.hpp"
#include "inference/error.hpp"
#include "inference/registry.hpp"
#include "inference/text_model.hpp"
#include "model_flags.hpp"
#include "replica_text.hpp"

namespace llmctl {

namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

// Redraws per second on a terminal: smooth enough to watch, cheap enough not to matter.
constexpr std::chrono::milliseconds kRedrawInterval{100};
// Characters of each stream's text shown on its line (the tail, as it grows).
constexpr std::size_t kShownChars = 72;

struct DemoOptions {
  PluginFlags plugins;
  ModelFlags model;
  uint32_t streams = 8;
  int32_t max_tokens = 48;
  std::vector<std::string> prompts;
};

struct StreamView {
  std::string prompt;
  std::string text;
  std::string state = "queued";
  uint64_t tokens = 0;
  double ttft_ms = 0;
  bool done = false;
  int32_t replica = -1;  // where it ran (GenerateMetrics), known once it finished
  int32_t slot = -1;
};

// "r1/s0"; "s2" for a backend without replicas; "-" before it is known.
std::string placement(const StreamView& view) {
  if (view.slot < 0) return "-";
  if (view.replica < 0) return fmt::format("s{}", view.slot);
  return fmt::format("r{}/s{}", view.replica, view.slot);
}

std::string printable(const std::string& text) {
  std::string out;
  for (char c : text) out += (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
  return out.size() > kShownChars ? "…" + out.substr(out.size() - kShownChars) : out;
}

void draw(const std::vector<StreamView>& views, bool redraw) {
  if (redraw) std::printf("\x1b[%zuA", views.size());
  for (std::size_t i = 0; i < views.size(); ++i) {
    const auto& v = views[i];
    std::printf("\x1b[2K[%zu] %-9s %4llu tok %-7s | %s\n", i, v.state.c_str(),
                static_cast<unsigned long long>(v.tokens), placement(v).c_str(), printable(v.text).c_str());
  }
  std::fflush(stdout);
}

asio::awaitable<void> run_one(inference::TextModel& model, StreamView& view, int32_t max_tokens, bool live,
                              std::size_t index, std::size_t& finished) {
  inference::GenerateConfig config;
  config.max_tokens = max_tokens;
  config.temperature = 0.8f;
  config.seed = index + 1;
  const auto started = Clock::now();
  auto stream = model.generate(view.prompt, config);
  try {
    while (auto token = co_await stream.next()) {
      if (view.tokens == 0) {
        view.ttft_ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
        view.state = "running";
      }
      view.text += token->text;
      ++view.tokens;
    }
    view.state = std::string(inference::to_string(stream.result().finish_reason));
  } catch (const inference::Error& e) {
    view.state = "error";
    view.text = e.what();
  }
  view.replica = stream.result().metrics.replica;
  view.slot = stream.result().metrics.slot;
  view.done = true;
  ++finished;
  if (!live) {
    std::printf("[%zu] %s, %llu tokens on %s, first after %.1f ms: %s%s\n", index, view.state.c_str(),
                static_cast<unsigned long long>(view.tokens), placement(view).c_str(), view.ttft_ms,
                view.prompt.c_str(), view.text.c_str());
    std::fflush(stdout);
  }
}

void print_summary(const inference::ModelStats& stats, const std::string& backend) {
  fmt::print("done: {} tokens served, at most {} of {} slots busy at once, {} restarts; {} prefix hits\n",
             stats.tokens_served, stats.max_in_flight, stats.slots_total, stats.restarts, stats.prefix_hits);
  if (stats.replicas.empty()) fmt::print("replicas: {}\n", no_replicas_note(backend));
  for (std::size_t i = 0; i < stats.replicas.size(); ++i) {
    fmt::print("replica {}: {}\n", i, describe_replica(stats.replicas[i]));
  }
  std::fflush(stdout);
}

asio::awaitable<void> demo(inference::Registry& registry, const DemoOptions& options) {
  // The best available backend unless one is named: the one the registry loads with.
  inference::LoadOptions load_options = options.model.load_options();
  const std::string backend =
      options.model.backend.empty() ? registry.default_backend(load_options)->name() : options.model.backend;
  const auto load_started = Clock::now();
  auto model = co_await registry.load_model(options.model.model, std::move(load_options), backend);
  const std::string device = model->info().serving_device;
  std::printf("loaded %s (%s) with backend %s on %s in %.0f ms; %u streams over %u slots\n",
              options.model.model.c_str(), model->model_type().c_str(), backend.c_str(),
              device.empty() ? "a device it does not name" : device.c_str(),
              std::chrono::duration<double, std::milli>(Clock::now() - load_started).count(), options.streams,
              model->stats().slots_total);
  const bool live = ::isatty(STDOUT_FILENO) == 1;
  std::vector<StreamView> views(options.streams);
  for (std::size_t i = 0; i < views.size(); ++i) {
    views[i].prompt = options.prompts.empty() ? "Once upon a time" : options.prompts[i % options.prompts.size()];
  }
  auto executor = co_await asio::this_coro::executor;
  std::size_t finished = 0;
  for (std::size_t i = 0; i < views.size(); ++i) {
    asio::co_spawn(executor, run_one(*model, views[i], options.max_tokens, live, i, finished), asio::detached);
  }
  if (live) draw(views, false);
  asio::steady_timer timer(executor);
  while (finished < views.size()) {
    timer.expires_after(kRedrawInterval);
    co_await timer.async_wait(asio::use_awaitable);
    if (live) draw(views, true);
  }
  print_summary(model->stats(), backend);
  co_await model->close();
}

}  // namespace

void add_demo_command(CLI::App& app, CommandAction& action) {
  auto options = std::make_shared<DemoOptions>();
  auto* command = app.add_subcommand("demo", "Run several generations at once on one model and watch them stream");
  add_plugin_flags(*command, options->plugins);
  add_model_flags(*command, options->model);
  command->add_option("--streams", options->streams, "Concurrent generations (default 8)")->check(CLI::Range(1, 64));
  command->add_option("--max-tokens", options->max_tokens, "Tokens per generation (default 48)")
      ->check(CLI::Range(1, 4096));
  command->add_option("prompts", options->prompts, "Prompts, used in turn by the streams")->type_name("TEXT");
  command->callback([options, &action] {
    action = [options] {
      CommandContext context(options->plugins);
      context.warn_plugin_failures();
      return context.run([&] { return demo(context.registry(), *options); });
    };
  });
}

}  // namespace llmctl

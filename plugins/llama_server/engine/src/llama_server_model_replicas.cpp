// LlamaServerModel's replicas: loading (every replica started), reload() (one replaced at a
// time), close() and the statistics. The request path is in llama_server_model.cpp.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "inference/error.hpp"
#include "inference/llama_server/llama_server_model.hpp"
#include "inference/llama_server/rpc_worker_check.hpp"
#include "inference/llama_server/server_binary.hpp"
#include "inference/llama_server/server_version_cache.hpp"
#include "inference/model_stats_from_pool.hpp"
#include "supervision_context.hpp"

namespace inference::llama_server {

namespace asio = boost::asio;

namespace {

void check_load_options(const LoadOptions& options) {
  if (options.parallel_slots == 0) throw Error(errc::invalid_argument, "parallel_slots must be at least 1");
}

// The engine's part of a replica's launch; the backend's customizer comes last.
LaunchSpec replica_spec(const std::string& path, const LoadOptions& options, const EngineOptions& engine,
                        const std::filesystem::path& binary, const ServerVersion& version,
                        const ReplicaLaunch& replica) {
  LaunchSpec spec;
  spec.binary = binary;
  spec.features = version.features;
  spec.model_path = path;
  spec.slots = options.parallel_slots;
  spec.context_per_slot = options.context_len;
  spec.gpu_layers = options.gpu_layers < 0 ? kAllGpuLayers : options.gpu_layers;
  if (!options.chat_template.empty()) spec.chat_template = options.chat_template;
  spec.extra_args = embedding_arguments(engine);
  spec.extra_args.insert(spec.extra_args.end(), engine.server_args.begin(), engine.server_args.end());
  spec.transport = engine.transport;
  spec.port = engine.port;
  if (replica.customize) replica.customize(spec);
  return spec;
}

// A backend whose planner knows nothing of the rpc option (rocm, vulkan: their own devices) would
// run the model locally and ignore the workers without a word: refused instead.
void check_rpc_planned(const EngineOptions& engine, const ModelLaunch& launch) {
  if (engine.rpc_workers.empty() || launch.replicas.front().remote_gone) return;
  throw Error(errc::invalid_argument,
              "backend option rpc: this backend does not split models over RPC workers (the llama_cpp backend does)");
}

// At load and reload, with the rpc option: every worker accepts a connection (all of them named
// when some do not), then the build lists them itself (a build without RPC is refused). Restarts
// repeat only the first check (ReplicaLaunch::remote_gone).
asio::awaitable<void> check_rpc_workers(const EngineOptions& engine, const std::filesystem::path& binary) {
  if (engine.rpc_workers.empty()) co_return;
  if (std::optional<std::string> gone = co_await rpc_workers_gone(engine.rpc_workers)) {
    throw Error(errc::backend_unavailable, "llama-server not started: " + *gone);
  }
  co_await probe_rpc_workers(binary, engine.rpc_workers, kRpcWorkerProbeTimeout);
}

// The server's lines to the host's child_log; with several replicas, each line says whose it is.
ServerProcessOptions process_options(const LoadOptions& options, uint32_t index, uint32_t replicas) {
  ServerProcessOptions process;
  if (!options.child_log || replicas == 1) {
    process.log_sink = options.child_log;
    return process;
  }
  process.log_sink = [log = options.child_log, prefix = "[replica " + std::to_string(index) + "] "](
                         std::string_view line) { log(prefix + std::string(line)); };
  return process;
}

SlotPoolOptions pool_options(const LoadOptions& options, uint32_t replicas) {
  SlotPoolOptions pool;
  pool.slots = options.parallel_slots;
  pool.queue_limit = options.queue_limit;
  pool.replicas = replicas;
  return pool;
}

// Runs the tasks at once on this coroutine's executor (one is simply awaited) and, once every one
// has ended, rethrows the first failure in task order: replicas start and stop in parallel, a
// second GPU's server loading while the first one does.
asio::awaitable<void> run_together(std::vector<asio::awaitable<void>> tasks) {
  if (tasks.size() == 1) {
    co_await std::move(tasks.front());
    co_return;
  }
  auto executor = co_await asio::this_coro::executor;
  using Spawned = decltype(asio::co_spawn(executor, std::declval<asio::awaitable<void>>(), asio::deferred));
  std::vector<Spawned> spawned;
  for (auto& task : tasks) spawned.push_back(asio::co_spawn(executor, std::move(task), asio::deferred));
  auto [order, failures] = co_await asio::experimental::make_parallel_group(std::move(spawned))
                               .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
  for (const std::exception_ptr& failure : failures) {
    if (failure) std::rethrow_exception(failure);
  }
}

}  // namespace

asio::awaitable<std::shared_ptr<LlamaServerModel>> LlamaServerModel::load(std::string path, LoadOptions options,
                                                                          LaunchCustomizer customize,
                                                                          std::vector<std::string> extra_option_keys) {
  LaunchPlanner planner = [customize](const std::string& model_path, const LoadOptions& model_options) {
    ModelLaunch launch = plain_model_launch(model_path, model_options);
    if (customize) {
      for (ReplicaLaunch& replica : launch.replicas) {
        replica.customize = [own = replica.customize, customize](LaunchSpec& spec) {
          if (own) own(spec);
          customize(spec);
        };
      }
    }
    return launch;
  };
  co_return co_await load_planned(std::move(path), std::move(options), std::move(planner),
                                  std::move(extra_option_keys));
}

asio::awaitable<std::shared_ptr<LlamaServerModel>> LlamaServerModel::load_planned(
    std::string path, LoadOptions options, LaunchPlanner planner, std::vector<std::string> extra_option_keys) {
  // Cheap checks first: bad options or a missing or corrupt model fail in milliseconds, before
  // any spawn.
  check_load_options(options);
  const EngineOptions engine = parse_engine_options(options.backend_options, extra_option_keys);
  ModelLaunch launch = planner(path, options);
  if (launch.replicas.empty()) throw Error(errc::internal_error, "the backend planned no replica");
  check_rpc_planned(engine, launch);
  report_serving(launch);
  auto executor = co_await asio::this_coro::executor;
  auto model = std::make_shared<LlamaServerModel>(Private{}, executor, std::move(planner), std::move(extra_option_keys),
                                                  launch, engine);
  co_await model->start_replicas(path, launch, engine);
  co_return model;
}

LlamaServerModel::LlamaServerModel(Private, asio::any_io_executor executor, LaunchPlanner planner,
                                   std::vector<std::string> extra_option_keys, const ModelLaunch& launch,
                                   EngineOptions engine)
    : executor_(std::move(executor)),
      planner_(std::move(planner)),
      extra_option_keys_(std::move(extra_option_keys)),
      settings_(std::make_shared<const Settings>(Settings{launch.info, launch.options, engine})),
      replicas_(
          std::make_shared<ReplicaSet>(pool_options(launch.options, static_cast<uint32_t>(launch.replicas.size())))),
      context_(executor_, [this] {
        // Nothing can run on that executor any more: the model is done for, so its servers go
        // now rather than when the last reference does. And the executor may be a strand,
        // which must not outlive its context.
        for (const auto& supervisor : replicas_->supervisors()) supervisor->stop_now();
        executor_ = asio::any_io_executor();
      }) {}

LlamaServerModel::~LlamaServerModel() {
  for (const auto& supervisor : replicas_->supervisors()) supervisor->stop_now();
}

std::shared_ptr<const LlamaServerModel::Settings> LlamaServerModel::settings() const {
  std::lock_guard lock(settings_mutex_);
  return settings_;
}

// Every replica at once: a second GPU's server loads while the first one does. One that fails
// fails the load; the others are then stopped by the model's destruction.
asio::awaitable<void> LlamaServerModel::start_replicas(const std::string& path, const ModelLaunch& launch,
                                                       const EngineOptions& engine) {
  const auto binary = find_server_binary(explicit_server_path(launch.options));
  const ServerVersion version = co_await probe_server_version_cached(binary);
  co_await check_rpc_workers(engine, binary);
  std::vector<asio::awaitable<void>> starts;
  for (uint32_t i = 0; i < launch.replicas.size(); ++i) {
    starts.push_back(start_replica(i, replica_spec(path, launch.options, engine, binary, version, launch.replicas[i]),
                                   launch.replicas[i], engine, launch.options));
  }
  co_await run_together(std::move(starts));
}

asio::awaitable<void> LlamaServerModel::start_replica(uint32_t index, LaunchSpec spec, const ReplicaLaunch& launch,
                                                      const EngineOptions& engine, const LoadOptions& options) {
  const uint64_t generation = replicas_->begin_generation(index);
  // Supervised on the engine's own thread: an idle model is no work on the host's io_context,
  // and the server outlives whichever host thread loaded it (see supervision_context.hpp).
  auto supervisor =
      std::make_shared<ServerSupervisor>(detail::SupervisionContext::instance().executor(), std::move(spec), engine,
                                         process_options(options, index, replicas_->size()),
                                         replicas_->events(index, generation, launch.device_gone, launch.remote_gone));
  co_await supervisor->start();
  replicas_->install(index, generation, std::move(supervisor), launch.device);
}

asio::awaitable<void> LlamaServerModel::reload(std::string path, LoadOptions options) {
  if (reloading_.exchange(true)) throw Error(errc::invalid_argument, "reload() while another reload() runs");
  struct Done {
    std::atomic<bool>& flag;
    ~Done() { flag.store(false); }
  } done{reloading_};
  if (closed_.load()) throw Error(errc::closed, "llama-server model: reload() after close()");
  check_load_options(options);
  const std::shared_ptr<const Settings> before = settings();
  if (options.parallel_slots != before->options.parallel_slots) {
    throw Error(errc::invalid_argument, "reload() cannot change parallel_slots (" +
                                            std::to_string(before->options.parallel_slots) + " -> " +
                                            std::to_string(options.parallel_slots) + "): load the model anew");
  }
  if (options.queue_limit != before->options.queue_limit) {
    throw Error(errc::invalid_argument, "reload() cannot change queue_limit: load the model anew");
  }
  const EngineOptions engine = parse_engine_options(options.backend_options, extra_option_keys_);
  ModelLaunch launch = planner_(path, options);
  if (launch.replicas.empty()) throw Error(errc::internal_error, "the backend planned no replica");
  check_rpc_planned(engine, launch);
  report_serving(launch);
  if (launch.replicas.size() != replicas_->size()) {
    throw Error(errc::invalid_argument, "reload() cannot change the number of replicas (" +
                                            std::to_string(replicas_->size()) + " -> " +
                                            std::to_string(launch.replicas.size()) + "): load the model anew");
  }
  const auto binary = find_server_binary(explicit_server_path(launch.options));
  const ServerVersion version = co_await probe_server_version_cached(binary);
  co_await check_rpc_workers(engine, binary);
  for (uint32_t i = 0; i < replicas_->size(); ++i) {
    co_await replace_replica(i, replica_spec(path, launch.options, engine, binary, version, launch.replicas[i]),
                             launch.replicas[i], engine, launch.options);
  }
  std::lock_guard lock(settings_mutex_);
  settings_ = std::make_shared<const Settings>(Settings{launch.info, launch.options, engine});
}

// Drain, stop, start the successor. When the successor does not start, the previous server is
// started again (its own launch, unchanged) and the successor's error is thrown.
asio::awaitable<void> LlamaServerModel::replace_replica(uint32_t index, LaunchSpec spec, const ReplicaLaunch& launch,
                                                        const EngineOptions& engine, const LoadOptions& options) {
  const std::shared_ptr<const Settings> before = settings();
  const std::shared_ptr<ServerSupervisor> previous = replicas_->supervisor(index);
  replicas_->begin_generation(index);  // no new requests from here; the old one's events are ignored
  const bool drained = co_await replicas_->pool().wait_replica_idle(
      index, std::chrono::steady_clock::now() + before->engine.drain_timeout);
  if (previous) {
    previous->abort_requests();  // only what the drain timeout left
    co_await previous->stop(drained ? before->engine.shutdown_grace : kNoShutdownGrace);
  }
  std::exception_ptr failure;
  try {
    co_await start_replica(index, std::move(spec), launch, engine, options);
    co_return;
  } catch (const Error&) {
    failure = std::current_exception();
  }
  if (previous && !closed_.load()) {
    // Not cancellable: a replica must not be left without a server because reload() was.
    co_await asio::this_coro::reset_cancellation_state(asio::disable_cancellation());
    co_await asio::this_coro::throw_if_cancelled(false);
    try {
      ReplicaLaunch restore;
      restore.device_gone = launch.device_gone;
      restore.remote_gone = launch.remote_gone;
      co_await start_replica(index, previous->spec(), restore, before->engine, before->options);
    } catch (const Error&) {
      // The error thrown below is the reload's; the replica shows as not serving in stats().
    }
  }
  std::rethrow_exception(failure);
}

asio::awaitable<void> LlamaServerModel::stop_supervisors(std::vector<std::shared_ptr<ServerSupervisor>> supervisors,
                                                         std::chrono::milliseconds grace) {
  std::vector<asio::awaitable<void>> stops;
  for (const auto& supervisor : supervisors) stops.push_back(supervisor->stop(grace));
  co_await run_together(std::move(stops));
}

asio::awaitable<void> LlamaServerModel::close() {
  if (closed_.exchange(true)) co_return;
  const std::shared_ptr<const Settings> settings = this->settings();
  SlotPool& pool = replicas_->pool();
  // Drain: woken by the last request's end (or the deadline), not by looking at the pool.
  if (settings->engine.drain_on_close) {
    co_await pool.wait_idle(std::chrono::steady_clock::now() + settings->engine.drain_timeout);
  }
  pool.close(make_error_code(errc::closed), "llama-server model closed");
  replicas_->stop_all();
  std::vector<std::shared_ptr<ServerSupervisor>> supervisors = replicas_->supervisors();
  // In-flight requests end first: their connections close, and those not sent yet never will be.
  for (const auto& supervisor : supervisors) supervisor->abort_requests();
  // llama-server does not act on SIGTERM while a task runs (its HTTP thread waits for the
  // task's results, which a terminating server never delivers), and a task whose client went
  // away ends only at its next token. So a server that may still hold a task is killed at
  // once; an idle one gets SIGTERM and the grace.
  const bool task_may_run = requests_at_server_.load() > 0;
  co_await stop_supervisors(std::move(supervisors), task_may_run ? kNoShutdownGrace : settings->engine.shutdown_grace);
}

ModelStats LlamaServerModel::stats() const {
  ModelStats out = model_stats_from_pool(replicas_->pool().stats());
  out.tokens_served = tokens_served_.load(std::memory_order_relaxed);
  out.restarts = replicas_->restarts();
  out.failed = replicas_->all_failed();
  out.replicas = replicas_->stats();
  return out;
}

uint32_t LlamaServerModel::replica_count() const noexcept { return replicas_->size(); }

std::optional<ServerEndpoint> LlamaServerModel::server_endpoint(uint32_t replica) const {
  if (replica >= replicas_->size()) return std::nullopt;
  auto supervisor = replicas_->supervisor(replica);
  auto instance = supervisor ? supervisor->current() : nullptr;
  if (!instance || !instance->process) return std::nullopt;
  return instance->process->endpoint();
}

int LlamaServerModel::server_pid(uint32_t replica) const {
  if (replica >= replicas_->size()) return 0;
  auto supervisor = replicas_->supervisor(replica);
  auto instance = supervisor ? supervisor->current() : nullptr;
  return instance && instance->process ? instance->process->pid() : 0;
}

ModelInfo LlamaServerModel::info() const { return settings()->info; }

std::string LlamaServerModel::model_type() const { return settings()->info.architecture; }

}  // namespace inference::llama_server

// The pool's lifecycle rules, beyond the header:
// - One executor, no locks: every member, lease release and spawned coroutine runs on it.
// - A load runs in a coroutine of its own (co_spawn), so a waiter that leaves never abandons it;
//   every acquire() of a model being loaded waits for that one load (a WaitQueue per model).
// - A model is resident while loading or loaded. Under max_loaded, making room closes the
//   loaded model with no lease that was least recently loaded or released, and that close ends
//   before the new load starts (its memory is what the new model needs).
// - A model whose stats() report it gave up is closed and loaded again by the next acquire().
// - Closing a model is counted from the moment it is decided, so close_all() returns only when
//   every close (idle, eviction, shutdown) is over.
#include "inference/gateway/model_pool.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <utility>

#include "inference/error.hpp"
#include "inference/wait_queue.hpp"

namespace inference::gateway {

namespace asio = boost::asio;

namespace {

// Waiters of one model's load: completed when it ends, with its Error when it failed.
using LoadWaiters = WaitQueue<void(std::exception_ptr)>;

std::exception_ptr cancelled_wait(std::monostate&) {
  return std::make_exception_ptr(Error(errc::cancelled, "waiting for the model to load"));
}

std::string one_line(const std::exception_ptr& failure) {
  try {
    std::rethrow_exception(failure);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
  }
  return "unknown error";
}

}  // namespace

// What a lease needs of its pool when it is released, without naming the pool's private state.
// Held weakly, so that a lease released after the pool is gone only drops its own counts.
struct LeaseOwner {
  virtual ~LeaseOwner() = default;
  virtual void released(std::size_t index) noexcept = 0;
};

// One served model's lifecycle, shared by the pool and every lease of it. Touched only on the
// pool's executor.
struct ModelLease::Entry {
  std::size_t index = 0;  // in the pool's models
  ServedModel served;
  ModelState state = ModelState::unloaded;  // `failed` here: the last load failed
  std::string error;
  std::exception_ptr failure;        // the last load's Error, while failed
  std::shared_ptr<TextModel> model;  // set exactly while loaded
  uint64_t restarts_before = 0;      // of the loads before the current one
  uint32_t in_flight = 0;
  uint64_t last_used = 0;        // the pool's clock when it was loaded or last released
  uint64_t idle_generation = 0;  // bumped by every lease and timer arming: stale expiries do nothing
  std::weak_ptr<LeaseOwner> owner;

  // Takes the loaded model out (the caller closes it), keeping its restarts counted.
  std::shared_ptr<TextModel> unload() {
    if (model) restarts_before += model->stats().restarts;
    state = ModelState::unloaded;
    return std::exchange(model, nullptr);
  }
  bool gave_up() const { return model && model->stats().failed; }
};

ModelLease::ModelLease(std::shared_ptr<Entry> entry, std::shared_ptr<TextModel> model) noexcept
    : entry_(std::move(entry)), model_(std::move(model)) {}

ModelLease::ModelLease(ModelLease&& other) noexcept
    : entry_(std::move(other.entry_)), model_(std::move(other.model_)) {}

ModelLease& ModelLease::operator=(ModelLease&& other) noexcept {
  if (this != &other) {
    release();
    entry_ = std::move(other.entry_);
    model_ = std::move(other.model_);
  }
  return *this;
}

ModelLease::~ModelLease() { release(); }

const std::string& ModelLease::name() const noexcept { return entry_->served.name; }

void ModelLease::release() noexcept {
  model_.reset();
  if (!entry_) return;
  std::shared_ptr<Entry> entry = std::move(entry_);
  --entry->in_flight;
  if (auto owner = entry->owner.lock()) owner->released(entry->index);
}

std::string_view to_string(ModelState state) noexcept {
  switch (state) {
    case ModelState::unloaded:
      return "unloaded";
    case ModelState::loading:
      return "loading";
    case ModelState::loaded:
      return "loaded";
    case ModelState::failed:
      return "failed";
  }
  return "unknown";
}

// Everything of the pool. Coroutines it spawns (loads, closes) hold it by shared_ptr; timers
// and leases hold it weakly.
struct ModelPool::State final : LeaseOwner, std::enable_shared_from_this<ModelPool::State> {
  using Entry = ModelLease::Entry;

  // The executor-bound part of one model, kept apart from the Entry so that a lease outliving
  // the pool (and its io_context) holds no I/O object.
  struct Record {
    explicit Record(const asio::any_io_executor& executor) : idle_timer(executor) {}
    std::shared_ptr<Entry> entry;
    asio::steady_timer idle_timer;
    LoadWaiters load_done{cancelled_wait};
    asio::cancellation_signal cancel_load;
  };

  State(asio::any_io_executor ex, Registry& reg, std::string backend_name, LoadOptions opts, PoolPolicy pol)
      : executor(std::move(ex)),
        registry(reg),
        backend(std::move(backend_name)),
        options(std::move(opts)),
        policy(pol) {}

  void released(std::size_t index) noexcept override {
    Entry& entry = *records[index]->entry;
    entry.last_used = ++clock;
    if (entry.in_flight == 0 && entry.state == ModelState::loaded) arm_idle_timer(*records[index]);
  }

  Record* find(std::string_view name) const {
    for (const auto& record : records) {
      if (record->entry->served.name == name) return record.get();
    }
    return nullptr;
  }

  std::size_t resident() const {
    std::size_t count = 0;
    for (const auto& record : records) {
      const ModelState state = record->entry->state;
      count += state == ModelState::loaded || state == ModelState::loading ? 1 : 0;
    }
    return count;
  }

  // The loaded model serving nothing that was used least recently, or nullptr.
  Entry* eviction_candidate() const {
    Entry* best = nullptr;
    for (const auto& record : records) {
      Entry& entry = *record->entry;
      if (entry.state != ModelState::loaded || entry.in_flight > 0) continue;
      if (best == nullptr || entry.last_used < best->last_used) best = &entry;
    }
    return best;
  }

  ModelLease lease(Record& record) {
    Entry& entry = *record.entry;
    ++entry.in_flight;
    ++entry.idle_generation;
    record.idle_timer.cancel();
    return ModelLease(record.entry, entry.model);
  }

  void arm_idle_timer(Record& record) {
    if (!policy.idle_unload || closed) return;
    const uint64_t generation = ++record.entry->idle_generation;
    record.idle_timer.expires_after(*policy.idle_unload);
    record.idle_timer.async_wait(
        [weak = weak_from_this(), index = record.entry->index, generation](const boost::system::error_code& ec) {
          auto self = weak.lock();
          if (!ec && self) self->idle_expired(index, generation);
        });
  }

  // The timer may have fired just as a lease was taken (its handler already queued): only an
  // expiry that nothing superseded unloads.
  void idle_expired(std::size_t index, uint64_t generation) {
    Entry& entry = *records[index]->entry;
    if (closed || generation != entry.idle_generation || entry.in_flight > 0) return;
    if (entry.state != ModelState::loaded) return;
    spawn_close(entry.unload());
  }

  // Closes a model taken out of its entry. Every close is counted from the moment it is decided
  // (before its coroutine starts), so that close_all() waits for all of them.
  void spawn_close(std::shared_ptr<TextModel> model) {
    ++closing;
    asio::co_spawn(executor, finish_close(shared_from_this(), std::move(model)), asio::detached);
  }
  // The close counted by the caller (++closing).
  static asio::awaitable<void> finish_close(std::shared_ptr<State> self, std::shared_ptr<TextModel> model) {
    try {
      co_await model->close();
    } catch (const std::exception&) {
      // A close that fails or is cancelled has still stopped the model from serving; destroying
      // it below stops whatever is left.
    }
    model.reset();
    if (--self->closing == 0) self->closes_done.notify_all();
  }

  // Starts loading `record`'s model in a coroutine of its own, so that a waiter leaving does not
  // abandon the load for the others. Makes room first under max_loaded (see the header).
  void begin_load(Record& record) {
    Entry& entry = *record.entry;
    std::vector<std::shared_ptr<TextModel>> to_close;
    if (entry.model) {
      to_close.push_back(entry.unload());  // it gave up: its replacement takes its place
    } else if (policy.idle_unload && policy.max_loaded > 0 && resident() >= policy.max_loaded) {
      Entry* victim = eviction_candidate();
      if (victim == nullptr) {
        throw Error(errc::overloaded,
                    "all " + std::to_string(policy.max_loaded) + " loaded models are serving requests; try again");
      }
      to_close.push_back(victim->unload());
    }
    entry.state = ModelState::loading;
    entry.error.clear();
    entry.failure = nullptr;
    asio::co_spawn(executor, run_load(shared_from_this(), entry.index, std::move(to_close)),
                   asio::bind_cancellation_slot(record.cancel_load.slot(), asio::detached));
  }

  static asio::awaitable<void> run_load(std::shared_ptr<State> self, std::size_t index,
                                        std::vector<std::shared_ptr<TextModel>> to_close) {
    Record& record = *self->records[index];
    Entry& entry = *record.entry;
    std::exception_ptr failure;
    try {
      // The models making room go first: their memory is what the new one needs.
      for (auto& model : to_close) {
        ++self->closing;
        co_await finish_close(self, std::move(model));
      }
      LoadOptions load_options = self->options;
      for (const auto& [key, value] : entry.served.backend_options) load_options.backend_options[key] = value;
      auto model = co_await self->registry.load_model(entry.served.path, load_options, self->backend);
      if (self->closed) {
        ++self->closing;
        co_await finish_close(self, std::move(model));
      } else {
        entry.model = std::move(model);
      }
    } catch (const std::exception&) {
      failure = std::current_exception();
    }
    self->finish_load(record, failure);
  }

  void finish_load(Record& record, std::exception_ptr failure) {
    Entry& entry = *record.entry;
    if (closed) {
      entry.state = ModelState::unloaded;
      record.load_done.fail_all(
          std::make_exception_ptr(Error(errc::closed, "model '" + entry.served.name + "': the gateway is closing")));
      return;
    }
    if (failure) {
      entry.state = ModelState::failed;
      entry.error = one_line(failure);
      entry.failure = failure;
      record.load_done.fail_all(failure);
      return;
    }
    entry.state = ModelState::loaded;
    entry.last_used = ++clock;
    record.load_done.notify_all();
    // Unloaded in turn when every waiter has left without taking a lease.
    if (entry.in_flight == 0) arm_idle_timer(record);
  }

  asio::awaitable<ModelLease> acquire(std::string name) {
    Record* record = find(name);
    if (record == nullptr) throw Error(errc::model_not_found, "model '" + name + "' is not served");
    bool started = false;
    for (;;) {
      if (closed) throw Error(errc::closed, "model '" + name + "': the gateway is closing");
      Entry& entry = *record->entry;
      // A model that gave up is replaced once per acquire, never in a loop: a replacement that
      // gave up at once is leased as it is, and the request fails with the model's own error.
      if (entry.state == ModelState::loaded && (!entry.gave_up() || started)) co_return lease(*record);
      // A load may end inside begin_load() (co_spawn runs it inline until it first suspends).
      if (entry.state == ModelState::failed && started) std::rethrow_exception(entry.failure);
      if (entry.state != ModelState::loading) {
        begin_load(*record);
        started = true;
        continue;
      }
      // Keeps the pool alive while waiting: the awaiting request may be all that refers to it.
      auto self = shared_from_this();
      co_await record->load_done.async_wait(asio::use_awaitable);
    }
  }

  ModelStatus status_of(const Entry& entry) const {
    ModelStatus status;
    status.name = entry.served.name;
    status.path = entry.served.path;
    status.state = entry.state;
    status.error = entry.error;
    status.restarts_total = entry.restarts_before;
    status.in_flight = entry.in_flight;
    if (entry.model) {
      status.stats = entry.model->stats();
      status.restarts_total += status.stats->restarts;
      if (status.stats->failed) {
        status.state = ModelState::failed;
        status.error = "the backend gave up on the model (e.g. its restart budget is spent)";
      }
    }
    return status;
  }

  // Stops timers and loads; the models themselves are closed by close_all().
  void stop() {
    closed = true;
    for (const auto& record : records) {
      ++record->entry->idle_generation;
      record->idle_timer.cancel();
      if (record->entry->state == ModelState::loading) record->cancel_load.emit(asio::cancellation_type::terminal);
    }
  }

  asio::any_io_executor executor;
  Registry& registry;
  const std::string backend;
  const LoadOptions options;
  const PoolPolicy policy;
  std::vector<std::unique_ptr<Record>> records;
  bool closed = false;
  uint64_t clock = 0;       // orders releases, for least-recently-used eviction
  std::size_t closing = 0;  // closes in progress
  LoadWaiters closes_done{cancelled_wait};
};

ModelPool::ModelPool(asio::any_io_executor executor, Registry& registry, std::string backend, LoadOptions options,
                     std::vector<ServedModel> models, PoolPolicy policy)
    : state_(std::make_shared<State>(std::move(executor), registry, std::move(backend), std::move(options), policy)) {
  for (ServedModel& served : models) {
    auto record = std::make_unique<State::Record>(state_->executor);
    record->entry = std::make_shared<ModelLease::Entry>();
    record->entry->index = state_->records.size();
    record->entry->served = std::move(served);
    record->entry->owner = state_;
    state_->records.push_back(std::move(record));
  }
}

ModelPool::~ModelPool() {
  // Loads in progress end (cancelled) on their own; loaded models are released by the entries
  // that hold them, which stops them when no lease holds them any more.
  if (state_) state_->stop();
}

asio::awaitable<void> ModelPool::start() {
  if (state_->policy.idle_unload) co_return;
  auto state = state_;
  for (const auto& record : state->records) {
    if (record->entry->state != ModelState::loading && !state->closed) state->begin_load(*record);
  }
  for (const auto& record : state->records) {
    if (record->entry->state != ModelState::loading) continue;
    try {
      co_await record->load_done.async_wait(asio::use_awaitable);
    } catch (const Error& e) {
      if (e.is(errc::cancelled)) throw;  // start() itself was cancelled; failed loads are in status()
    }
  }
}

bool ModelPool::serves(std::string_view name) const noexcept { return state_->find(name) != nullptr; }

std::vector<std::string> ModelPool::names() const {
  std::vector<std::string> out;
  for (const auto& record : state_->records) out.push_back(record->entry->served.name);
  return out;
}

asio::awaitable<ModelLease> ModelPool::acquire(std::string name) {
  auto state = state_;
  co_return co_await state->acquire(std::move(name));
}

std::vector<ModelStatus> ModelPool::status() const {
  std::vector<ModelStatus> out;
  for (const auto& record : state_->records) out.push_back(state_->status_of(*record->entry));
  return out;
}

bool ModelPool::healthy() const {
  for (const ModelStatus& model : status()) {
    if (model.state == ModelState::failed) return false;
    if (!state_->policy.idle_unload && model.state != ModelState::loaded) return false;
  }
  return true;
}

asio::awaitable<void> ModelPool::close_all() {
  auto state = state_;
  state->stop();
  for (const auto& record : state->records) {
    if (record->entry->state != ModelState::loading) continue;
    try {
      co_await record->load_done.async_wait(asio::use_awaitable);
    } catch (const Error&) {
      // Error(closed), as every waiter of a load that close_all() ended.
    }
  }
  for (const auto& record : state->records) {
    if (record->entry->model) state->spawn_close(record->entry->unload());
  }
  if (state->closing > 0) co_await state->closes_done.async_wait(asio::use_awaitable);
}

}  // namespace inference::gateway

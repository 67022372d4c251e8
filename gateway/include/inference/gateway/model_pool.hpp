// ModelPool: the gateway's served models and their lifecycle. Either every model is loaded at
// start and kept (the default), or (idle_unload set) a model is loaded by the first request for
// it and closed after it has served nothing for idle_unload, with at most max_loaded resident:
// loading one more closes the least recently used model that serves nothing at the time.
//
// A request holds a ModelLease while it runs, so a model is never unloaded under a request. A
// model whose load failed, or that gave up (ModelStats::failed, e.g. its restart budget spent),
// is reported failed and loaded again by the next request for it.
//
// Threading: not thread-safe. Every member runs on the one executor given at construction (the
// gateway's single-threaded io_context). Cancellation: acquire() honours per-operation
// cancellation (the waiting request leaves; a load in progress continues for the others).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "inference/gateway/model_catalog.hpp"
#include "inference/load_options.hpp"
#include "inference/registry.hpp"
#include "inference/text_model.hpp"
#include "inference/types.hpp"

namespace inference::gateway {

enum class ModelState { unloaded, loading, loaded, failed };
std::string_view to_string(ModelState state) noexcept;

struct PoolPolicy {
  std::optional<std::chrono::seconds> idle_unload;  // unset: load all at start, never unload
  uint32_t max_loaded = 0;                          // with idle_unload: 0 = no limit
};

struct ModelStatus {
  std::string name;
  std::string path;
  ModelState state = ModelState::unloaded;
  std::string error;                // the last load failure, one line; empty unless failed
  std::optional<ModelStats> stats;  // while loaded
  uint64_t restarts_total = 0;      // server restarts over every load of this model
  uint32_t in_flight = 0;           // requests holding a lease
};

class ModelPool;

// Keeps one model loaded and counted busy while a request uses it. Move-only.
class ModelLease {
 public:
  ModelLease() = default;
  ModelLease(ModelLease&&) noexcept;
  ModelLease& operator=(ModelLease&&) noexcept;
  ModelLease(const ModelLease&) = delete;
  ModelLease& operator=(const ModelLease&) = delete;
  ~ModelLease();

  TextModel& model() const noexcept { return *model_; }
  const std::string& name() const noexcept;

 private:
  friend class ModelPool;
  struct Entry;
  ModelLease(std::shared_ptr<Entry> entry, std::shared_ptr<TextModel> model) noexcept;
  void release() noexcept;
  std::shared_ptr<Entry> entry_;
  std::shared_ptr<TextModel> model_;
};

class ModelPool {
 public:
  ModelPool(boost::asio::any_io_executor executor, Registry& registry, std::string backend, LoadOptions options,
            std::vector<ServedModel> models, PoolPolicy policy);
  ModelPool(const ModelPool&) = delete;
  ModelPool& operator=(const ModelPool&) = delete;
  ~ModelPool();

  // Without idle_unload: loads every model (all at once). A failed load is recorded in status(),
  // not thrown. With idle_unload: returns at once.
  boost::asio::awaitable<void> start();

  bool serves(std::string_view name) const noexcept;
  std::vector<std::string> names() const;

  // The named model, loading it first when needed (or waiting for the load in progress).
  // Throws Error(model_not_found) for a name not served, the load's Error when it fails,
  // Error(overloaded) when max_loaded models are resident and every one is serving (nothing can
  // be unloaded now), Error(closed) after close_all().
  boost::asio::awaitable<ModelLease> acquire(std::string name);

  std::vector<ModelStatus> status() const;
  // True when no model is failed and, without idle_unload, every model is loaded.
  bool healthy() const;

  // Closes every loaded model (their close() stops their server processes); later acquire()
  // fails with Error(closed). Requests still holding leases see their streams end with
  // Error(closed).
  boost::asio::awaitable<void> close_all();

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace inference::gateway

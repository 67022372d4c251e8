#include "inference/context_lifetime.hpp"

#include <atomic>
#include <boost/asio/execution/context_as.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/query.hpp>
#include <list>
#include <mutex>

namespace inference {

namespace asio = boost::asio;

namespace detail {

struct ContextLifetimeEntry {
  std::atomic<bool> shut_down{false};

  // Serialises the callback with unregistering. Recursive: the callback may destroy the object
  // that owns this entry (and so call unregister on the same thread).
  std::recursive_mutex mutex;
  std::function<void()> on_shutdown;  // guarded by mutex; empty once unregistered
};

namespace {

// One per execution context. Core code, so that it never runs from a plugin that was unmapped
// before the context was destroyed.
class ContextLifetimeService : public asio::execution_context::service {
 public:
  using key_type = ContextLifetimeService;
  static inline asio::execution_context::id id;

  explicit ContextLifetimeService(asio::execution_context& context) : service(context) {}

  void add(const std::shared_ptr<ContextLifetimeEntry>& entry) {
    std::lock_guard lock(mutex_);
    if (shut_down_) {
      entry->shut_down = true;
      return;
    }
    entries_.push_back(entry);
  }

 private:
  // Called while the context is destroyed, before any service is: the registered owners drop
  // their Asio objects while every service still exists.
  void shutdown() override {
    std::list<std::weak_ptr<ContextLifetimeEntry>> entries;
    {
      std::lock_guard lock(mutex_);
      shut_down_ = true;
      entries.swap(entries_);
    }
    for (auto& weak : entries) {
      if (auto entry = weak.lock()) entry->shut_down = true;
    }
    for (auto& weak : entries) {
      auto entry = weak.lock();
      if (!entry) continue;
      std::lock_guard lock(entry->mutex);
      auto callback = std::move(entry->on_shutdown);
      entry->on_shutdown = nullptr;
      if (callback) callback();
    }
  }

  std::mutex mutex_;
  bool shut_down_ = false;
  // Weak: an owner destroyed first leaves an expired entry, collected at shutdown.
  std::list<std::weak_ptr<ContextLifetimeEntry>> entries_;
};

}  // namespace
}  // namespace detail

ContextLifetime::ContextLifetime(const asio::any_io_executor& executor, std::function<void()> on_shutdown)
    : entry_(std::make_shared<detail::ContextLifetimeEntry>()) {
  entry_->on_shutdown = std::move(on_shutdown);
  asio::execution_context& context = asio::query(executor, asio::execution::context_as<asio::execution_context&>);
  asio::use_service<detail::ContextLifetimeService>(context).add(entry_);
}

ContextLifetime& ContextLifetime::operator=(ContextLifetime&& other) noexcept {
  if (this != &other) {
    ContextLifetime doomed(std::move(*this));
    entry_ = std::move(other.entry_);
  }
  return *this;
}

ContextLifetime::~ContextLifetime() {
  if (!entry_) return;
  std::lock_guard lock(entry_->mutex);
  entry_->on_shutdown = nullptr;
}

bool ContextLifetime::shut_down() const noexcept { return entry_ && entry_->shut_down.load(); }

}  // namespace inference

// ContextLifetime: whether the execution context behind an executor can still run work, and a
// hook that runs when that context shuts down.
//
// Why it exists: an object that keeps Asio objects bound to an io_context (strands, sockets,
// timers, stored completion handlers) must release them before that io_context is destroyed;
// destroying them afterwards is undefined behaviour in Asio. A model a host keeps in a global,
// or in any owner destroyed after its io_context, is such an object. Its owner registers a
// ContextLifetime with a callback that drops those objects (and stops child processes
// synchronously); core runs the callback from an Asio service of the context, while the
// io_context is being destroyed and before its services are.
//
// Ownership: a ContextLifetime is owned by the object it protects; the shared state it points
// to is owned jointly with the context's service, so either may go first.
// Thread-safety: shut_down() may be called from any thread. The callback runs on
// the thread that destroys the context (or calls its shutdown()), once at most, never after
// ~ContextLifetime has returned; it must not throw.
// Cancellation: not applicable (nothing here is asynchronous).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <memory>

namespace inference {

namespace detail {
struct ContextLifetimeEntry;
}

class ContextLifetime {
 public:
  // Not tied to any context: always running, never shut down.
  ContextLifetime() = default;
  // Watches the execution context of `executor`.
  explicit ContextLifetime(const boost::asio::any_io_executor& executor, std::function<void()> on_shutdown = {});
  ContextLifetime(ContextLifetime&&) noexcept = default;
  ContextLifetime& operator=(ContextLifetime&&) noexcept;
  ContextLifetime(const ContextLifetime&) = delete;
  ContextLifetime& operator=(const ContextLifetime&) = delete;
  // Unregisters the callback; waits for it if the context is calling it on another thread.
  ~ContextLifetime();

  // True once the context has begun shutting down (it is being destroyed).
  bool shut_down() const noexcept;

 private:
  std::shared_ptr<detail::ContextLifetimeEntry> entry_;
};

}  // namespace inference

// AbortRegistry: the running requests of one openai model, so that close() can end them. Each
// request registers the strand it runs on and the connection it is using; abort_all() posts, to
// each request's strand, the closing of its connection (a socket may only be touched from the
// strand its operations run on). The request's pending read then fails and the request, seeing
// its handle aborted, ends with Error(closed).
//
// Ownership: a Registration (held by the request's coroutine) keeps its handle registered until
// it is destroyed; the handle itself is shared with posted aborts, which may run later.
// Thread-safety: add() and abort_all() are thread-safe; a handle's fields are used only on its
// request's strand. Cancellation: nothing here waits.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <list>
#include <memory>
#include <mutex>

#include "inference/openai/remote_connection.hpp"

namespace inference::openai {

struct AbortHandle {
  bool aborted = false;                          // abort_all() reached this request
  RemoteConnection* connection = nullptr;        // the connection in use, or none
  boost::asio::steady_timer* backoff = nullptr;  // the wait before a retry, while it runs
};

class AbortRegistry {
 public:
  class Registration;

  // Registers a request running on `strand` (its coroutine's executor).
  Registration add(boost::asio::any_io_executor strand);
  // Aborts every registered request (see above).
  void abort_all();

 private:
  struct Entry {
    boost::asio::any_io_executor strand;
    std::shared_ptr<AbortHandle> handle;
  };
  std::mutex mutex_;
  std::list<Entry> entries_;
};

class AbortRegistry::Registration {
 public:
  Registration(AbortRegistry& registry, std::list<Entry>::iterator entry) : registry_(&registry), entry_(entry) {}
  Registration(const Registration&) = delete;
  Registration& operator=(const Registration&) = delete;
  ~Registration();

  AbortHandle& handle() const { return *entry_->handle; }

 private:
  AbortRegistry* registry_;
  std::list<Entry>::iterator entry_;
};

}  // namespace inference::openai

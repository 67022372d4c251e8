// LlamaServerModel's private pieces shared by its request paths (generation in
// llama_server_model.cpp, embeddings and reranking in llama_server_model_embeddings.cpp): one
// request's hold on a server, and the count close() waits on.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>
#include <functional>
#include <memory>
#include <optional>

#include "inference/llama_server/http_connection.hpp"
#include "inference/llama_server/llama_server_model.hpp"
#include "inference/llama_server/server_supervisor.hpp"

namespace inference::llama_server {

// Counts a request from before it may reach the server until the server is done with it (its
// slot idle again), for close().
class AtServer {
 public:
  explicit AtServer(std::atomic<int>& count) : count_(count) { count_.fetch_add(1); }
  AtServer(const AtServer&) = delete;
  AtServer& operator=(const AtServer&) = delete;
  ~AtServer() { count_.fetch_sub(1); }

 private:
  std::atomic<int>& count_;
};

// One request's hold on a server, in run()'s frame on the request's strand: the instance it
// reached, its registration with the supervisor (the stall watchdog, close()'s abort) and its
// connection. Members go in reverse order: the connection first, then the at-server count, the
// registration and the instance. close() may end the request from another thread at any moment:
// the abort hops onto the strand and closes the connection while it exists (cleared here, on the
// same strand).
struct LlamaServerModel::Exchange {
  struct AbortTarget {
    HttpConnection* connection = nullptr;
  };

  explicit Exchange(boost::asio::any_io_executor strand) : executor(std::move(strand)) {}
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;
  ~Exchange() { abort_target->connection = nullptr; }

  // What close() calls, from any thread, to end this request.
  std::function<void()> abort() const {
    return [target = abort_target, strand = executor] {
      boost::asio::post(strand, [target] {
        if (target->connection) target->connection->close();
      });
    };
  }

  const boost::asio::any_io_executor executor;
  const std::shared_ptr<AbortTarget> abort_target = std::make_shared<AbortTarget>();
  uint32_t replica = 0;
  std::shared_ptr<ServerSupervisor> supervisor;  // the replica's, when the request was placed
  std::shared_ptr<ServerInstance> instance;
  std::unique_ptr<ServerSupervisor::Activity> activity;
  std::optional<AtServer> at_server;
  std::optional<HttpConnection> connection;
};

}  // namespace inference::llama_server

#include "inference/openai/connection_pool.hpp"

namespace inference::openai {

ConnectionPool::ConnectionPool(boost::asio::any_io_executor executor, std::shared_ptr<const RemoteEndpoint> endpoint,
                               std::size_t max_idle)
    : executor_(std::move(executor)), endpoint_(std::move(endpoint)), max_idle_(max_idle) {}

std::unique_ptr<RemoteConnection> ConnectionPool::take() {
  std::vector<std::unique_ptr<RemoteConnection>> closed;  // destroyed outside the lock
  {
    const std::lock_guard lock(mutex_);
    while (!idle_.empty()) {
      std::unique_ptr<RemoteConnection> connection = std::move(idle_.back());
      idle_.pop_back();
      if (connection->idle_and_open()) return connection;
      closed.push_back(std::move(connection));  // the server closed it meanwhile
    }
    ++created_;
  }
  return std::make_unique<RemoteConnection>(executor_, endpoint_);
}

void ConnectionPool::give_back(std::unique_ptr<RemoteConnection> connection) {
  if (!connection || !connection->reusable()) return;
  const std::lock_guard lock(mutex_);
  if (closed_ || idle_.size() >= max_idle_) return;
  idle_.push_back(std::move(connection));
}

void ConnectionPool::close() {
  std::vector<std::unique_ptr<RemoteConnection>> dropped;
  {
    const std::lock_guard lock(mutex_);
    closed_ = true;
    dropped.swap(idle_);
  }
}

std::size_t ConnectionPool::idle() const {
  const std::lock_guard lock(mutex_);
  return idle_.size();
}

std::uint64_t ConnectionPool::created() const {
  const std::lock_guard lock(mutex_);
  return created_;
}

}  // namespace inference::openai

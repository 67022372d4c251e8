#include "abort_registry.hpp"

#include <boost/asio/post.hpp>
#include <vector>

namespace inference::openai {

AbortRegistry::Registration AbortRegistry::add(boost::asio::any_io_executor strand) {
  const std::lock_guard lock(mutex_);
  entries_.push_back(Entry{std::move(strand), std::make_shared<AbortHandle>()});
  return Registration(*this, std::prev(entries_.end()));
}

void AbortRegistry::abort_all() {
  std::vector<Entry> targets;
  {
    const std::lock_guard lock(mutex_);
    targets.assign(entries_.begin(), entries_.end());
  }
  for (Entry& target : targets) {
    boost::asio::post(target.strand, [handle = std::move(target.handle)] {
      handle->aborted = true;
      if (handle->connection != nullptr) handle->connection->close();
      if (handle->backoff != nullptr) handle->backoff->cancel();
    });
  }
}

AbortRegistry::Registration::~Registration() {
  const std::lock_guard lock(registry_->mutex_);
  registry_->entries_.erase(entry_);
}

}  // namespace inference::openai

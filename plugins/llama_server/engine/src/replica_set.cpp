#include "inference/llama_server/replica_set.hpp"

namespace inference::llama_server {

ReplicaSet::ReplicaSet(SlotPoolOptions pool_options) : pool_(pool_options) {
  replicas_.reserve(pool_options.replicas);
  for (uint32_t i = 0; i < pool_options.replicas; ++i) {
    replicas_.push_back(std::make_unique<Replica>());
    // Nothing serves yet: a request made before the first install() waits in the queue.
    pool_.set_replica_available(i, false);
  }
}

uint64_t ReplicaSet::begin_generation(uint32_t index) {
  std::lock_guard lock(mutex_);
  Replica& replica = *replicas_.at(index);
  ++replica.generation;
  replica.installed = false;
  replica.state = ReplicaState::replacing;
  replica.reason.clear();
  pool_.set_replica_available(index, false);
  return replica.generation;
}

SupervisorEvents ReplicaSet::events(uint32_t index, uint64_t generation,
                                    std::function<std::optional<std::string>()> device_gone,
                                    decltype(SupervisorEvents::remote_gone) remote_gone) {
  SupervisorEvents events;
  std::weak_ptr<ReplicaSet> weak = weak_from_this();
  events.serving_changed = [weak, index, generation](bool serving) {
    if (auto self = weak.lock()) self->serving_changed(index, generation, serving);
  };
  events.failed = [weak, index, generation](const Error& failure) {
    if (auto self = weak.lock()) self->failed(index, generation, failure);
  };
  events.device_gone = std::move(device_gone);
  events.remote_gone = std::move(remote_gone);
  return events;
}

void ReplicaSet::install(uint32_t index, uint64_t generation, std::shared_ptr<ServerSupervisor> supervisor,
                         std::string device) {
  std::lock_guard lock(mutex_);
  Replica& replica = *replicas_.at(index);
  if (replica.generation != generation || stopped_) return;
  if (replica.supervisor && replica.supervisor != supervisor) replica.restarts_before += replica.supervisor->restarts();
  replica.supervisor = std::move(supervisor);
  replica.installed = true;
  replica.device = std::move(device);
  // It may have crashed between its start and now: ask it rather than assume.
  const bool serving = replica.supervisor->current() != nullptr;
  replica.state = serving ? ReplicaState::serving : ReplicaState::restarting;
  pool_.set_replica_available(index, serving);
}

bool ReplicaSet::current_locked(uint32_t index, uint64_t generation) const {
  const Replica& replica = *replicas_.at(index);
  return !stopped_ && replica.installed && replica.generation == generation;
}

void ReplicaSet::serving_changed(uint32_t index, uint64_t generation, bool serving) {
  std::lock_guard lock(mutex_);
  if (!current_locked(index, generation)) return;
  Replica& replica = *replicas_[index];
  if (replica.state == ReplicaState::failed) return;
  replica.state = serving ? ReplicaState::serving : ReplicaState::restarting;
  pool_.set_replica_available(index, serving);
}

void ReplicaSet::failed(uint32_t index, uint64_t generation, const Error& failure) {
  std::lock_guard lock(mutex_);
  if (!current_locked(index, generation)) return;
  // A stopped supervisor reports closed: that is close() or a replacement, not a failure.
  if (failure.is(errc::closed)) return;
  Replica& replica = *replicas_[index];
  replica.state = ReplicaState::failed;
  replica.reason = failure.what();
  pool_.set_replica_available(index, false);
  for (const auto& other : replicas_) {
    if (other->state != ReplicaState::failed) return;
  }
  // Every replica gave up: so does the model. Queued requests learn why from the pool; the
  // engine rethrows model_failure() for them, which keeps the server's last lines.
  std::string context = failure.context();
  if (replicas_.size() > 1) context = "every replica failed; the last: " + context;
  model_failure_.emplace(
      failure.code() == make_error_code(errc::device_lost) ? failure.code() : make_error_code(errc::model_failed),
      std::move(context), failure.detail());
  pool_.close(model_failure_->code(), model_failure_->context());
}

void ReplicaSet::instance_died(uint32_t index, const ServerInstance& instance) {
  std::lock_guard lock(mutex_);
  if (index >= replicas_.size()) return;
  Replica& replica = *replicas_[index];
  if (!replica.supervisor || stopped_) return;
  // Under this mutex: a publish() of the successor either happened before (then current() is the
  // successor and nothing changes) or its serving_changed(true) waits for this mutex and undoes
  // this afterwards.
  const std::shared_ptr<ServerInstance> serving = replica.supervisor->current();
  if (serving && serving.get() != &instance) return;
  if (replica.state == ReplicaState::serving) replica.state = ReplicaState::restarting;
  pool_.set_replica_available(index, false);
}

std::shared_ptr<ServerSupervisor> ReplicaSet::supervisor(uint32_t index) const {
  std::lock_guard lock(mutex_);
  return replicas_.at(index)->supervisor;
}

std::vector<std::shared_ptr<ServerSupervisor>> ReplicaSet::supervisors() const {
  std::lock_guard lock(mutex_);
  std::vector<std::shared_ptr<ServerSupervisor>> out;
  for (const auto& replica : replicas_) {
    if (replica->supervisor) out.push_back(replica->supervisor);
  }
  return out;
}

std::optional<Error> ReplicaSet::model_failure() const {
  std::lock_guard lock(mutex_);
  return model_failure_;
}

bool ReplicaSet::all_failed() const {
  std::lock_guard lock(mutex_);
  return model_failure_.has_value();
}

void ReplicaSet::stop_all() {
  std::lock_guard lock(mutex_);
  stopped_ = true;
  for (const auto& replica : replicas_) {
    if (replica->state != ReplicaState::failed) replica->state = ReplicaState::stopped;
  }
}

void ReplicaSet::add_tokens(uint32_t index, uint64_t tokens) noexcept {
  if (index < replicas_.size()) replicas_[index]->tokens.fetch_add(tokens, std::memory_order_relaxed);
}

uint64_t ReplicaSet::restarts() const {
  std::lock_guard lock(mutex_);
  uint64_t total = 0;
  for (const auto& replica : replicas_) {
    total += replica->restarts_before + (replica->supervisor ? replica->supervisor->restarts() : 0);
  }
  return total;
}

std::vector<ReplicaStats> ReplicaSet::stats() const {
  const SlotPoolStats pool = pool_.stats();
  std::lock_guard lock(mutex_);
  std::vector<ReplicaStats> out;
  out.reserve(replicas_.size());
  for (std::size_t i = 0; i < replicas_.size(); ++i) {
    const Replica& replica = *replicas_[i];
    ReplicaStats stats;
    stats.state = replica.state;
    stats.device = replica.device;
    stats.reason = replica.reason;
    if (replica.supervisor) {
      stats.restarts = replica.restarts_before + replica.supervisor->restarts();
      if (auto instance = replica.supervisor->current(); instance && instance->process) {
        stats.process_id = instance->process->pid();
      }
    }
    if (i < pool.replicas.size()) {
      stats.slots_total = pool.replicas[i].slots_total;
      stats.slots_busy = pool.replicas[i].slots_busy;
      stats.requests_total = pool.replicas[i].acquired_total;
      stats.max_in_flight = pool.replicas[i].max_in_flight;
    }
    stats.tokens_served = replica.tokens.load(std::memory_order_relaxed);
    out.push_back(std::move(stats));
  }
  return out;
}

}  // namespace inference::llama_server

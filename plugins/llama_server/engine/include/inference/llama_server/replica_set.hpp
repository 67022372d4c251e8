// ReplicaSet: the replicas of one LlamaServerModel (one supervised llama-server each) and the slot
// pool over all of them. It turns what each replica's supervisor reports (serving, crashed and
// restarting, failed) into the pool's availability, so that placement skips a replica that cannot
// take requests, and it fails the whole model only when every replica has failed.
//
// Generations: a replica's supervisor is replaced by reload(). Each supervisor's events are bound
// to the generation it was made for (events()); events of an older generation, or of one not
// installed yet, change nothing, so the old server's shutdown never marks the replica down.
//
// Ownership: shared (the supervisors' events hold it weakly). Thread-safety: every member is
// thread-safe (one mutex; the pool has its own, always taken after it).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "inference/error.hpp"
#include "inference/llama_server/server_supervisor.hpp"
#include "inference/slot_pool.hpp"
#include "inference/types.hpp"

namespace inference::llama_server {

class ReplicaSet : public std::enable_shared_from_this<ReplicaSet> {
 public:
  explicit ReplicaSet(SlotPoolOptions pool_options);

  SlotPool& pool() noexcept { return pool_; }
  uint32_t size() const noexcept { return static_cast<uint32_t>(replicas_.size()); }

  // Starts generation of replica `index` (the first one, or a replacement): the replica takes no
  // new requests, its state is `replacing`, and the current supervisor's events are ignored from
  // now on. Returns the new generation, for events() and install().
  uint64_t begin_generation(uint32_t index);
  // The events for a supervisor of that generation, with the device and remote checks of its launch.
  SupervisorEvents events(uint32_t index, uint64_t generation, std::function<std::optional<std::string>()> device_gone,
                          decltype(SupervisorEvents::remote_gone) remote_gone = {});
  // Makes `supervisor` (started) the replica's server: it takes requests again when it serves.
  void install(uint32_t index, uint64_t generation, std::shared_ptr<ServerSupervisor> supervisor, std::string device);

  // A request saw `instance` of replica `index` die (its exit confirmed). Marks the replica down
  // now, before the request hands its slot back: the supervisor learns of the same exit on its
  // own thread, and a slot freed in between would go to a queued request that would then wait
  // for the restart instead of running on another replica. Does nothing when a newer instance
  // already serves (the supervisor's publish() marks the replica up again after this anyway).
  void instance_died(uint32_t index, const ServerInstance& instance);

  // The replica's supervisor (nullptr before the first install()).
  std::shared_ptr<ServerSupervisor> supervisor(uint32_t index) const;
  std::vector<std::shared_ptr<ServerSupervisor>> supervisors() const;
  // Why the model failed when every replica has: the last replica's error (with its detail).
  std::optional<Error> model_failure() const;
  bool all_failed() const;
  // At close(): every replica is stopped, nothing reports any more.
  void stop_all();

  void add_tokens(uint32_t index, uint64_t tokens) noexcept;
  uint64_t restarts() const;
  std::vector<ReplicaStats> stats() const;

 private:
  struct Replica {
    std::shared_ptr<ServerSupervisor> supervisor;
    uint64_t generation = 0;
    bool installed = false;
    ReplicaState state = ReplicaState::replacing;
    std::string device;
    std::string reason;
    uint64_t restarts_before = 0;  // restarts of the generations it replaced
    std::atomic<uint64_t> tokens{0};
  };
  bool current_locked(uint32_t index, uint64_t generation) const;
  void serving_changed(uint32_t index, uint64_t generation, bool serving);
  void failed(uint32_t index, uint64_t generation, const Error& failure);

  SlotPool pool_;
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Replica>> replicas_;
  std::optional<Error> model_failure_;
  bool stopped_ = false;
};

}  // namespace inference::llama_server

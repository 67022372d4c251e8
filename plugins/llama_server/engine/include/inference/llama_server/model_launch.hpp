// ModelLaunch: what a backend built on the engine decides for one load (or reload()) of a model
// before anything is spawned: the model's metadata, the load options as it adjusted them (layers
// offloaded, server binary), and one ReplicaLaunch per replica (one llama-server process each,
// e.g. one per GPU). The engine starts and supervises the replicas and pools their slots.
//
// Ownership: plain values (the functions they hold must be safe to call from the engine's
// supervision thread while the model lives). Thread-safety: a LaunchPlanner may be called from
// any thread; it only reads files.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "inference/llama_server/launch_spec.hpp"
#include "inference/load_options.hpp"
#include "inference/model_info.hpp"

namespace inference::llama_server {

// What remote part a replica's server depends on does not answer ("RPC worker 127.0.0.1:50102
// does not answer"), or std::nullopt. Bounded in time (rpc_worker_check.hpp).
using RemoteCheck = std::function<boost::asio::awaitable<std::optional<std::string>>()>;

// Lets a backend adjust one replica's launch: environment (device pinning), extra arguments.
using LaunchCustomizer = std::function<void(LaunchSpec&)>;

struct ReplicaLaunch {
  LaunchCustomizer customize;  // may be empty
  std::string device;          // what it runs on, for stats ("GPU 1 (gfx1100)"); may be empty
  // Asked before every restart of this replica: why its device is gone (the replica is then
  // failed with device_lost and never restarted), or std::nullopt to restart as usual. May be
  // empty (never gone).
  std::function<std::optional<std::string>()> device_gone;
  // Asked before every start of this replica's server, and when the server died under a request:
  // a start is then refused with backend_unavailable (a restart counts against the budget), the
  // request fails with backend_unavailable naming it. May be empty (nothing remote).
  RemoteCheck remote_gone;
};

struct ModelLaunch {
  ModelInfo info;
  LoadOptions options;                  // as adjusted by the backend
  std::vector<ReplicaLaunch> replicas;  // at least one
};

// Plans a load or a reload. Throws Error (invalid_argument naming the option, model_not_found,
// invalid_model, ...) before anything starts.
using LaunchPlanner = std::function<ModelLaunch(const std::string& path, const LoadOptions& options)>;

// The plan of a backend without devices of its own (llama_cpp): the model's metadata, and the
// `replicas` engine option's number of replicas, each with the machine's CPU threads split
// evenly (--threads) unless server_args sets them. The model runs in host memory: with
// context_len unset the largest context that fits the host (MemAvailable, or the host_memory_mib
// option; the weights once, every replica's slots) is chosen, an explicit one that does not fit is refused with
// Error(invalid_argument) and the numbers (fit_host_memory()); info's serving_context_* and
// serving_device ("CPU") say which and why.
ModelLaunch plain_model_launch(const std::string& path, const LoadOptions& options);

// What the engine does with every plan before it starts anything: a plan that left
// info.serving_context_per_slot at 0 gets the context it will serve (options.context_len as
// asked, or the training context split over the slots when that is 0: llama-server's -c 0), and
// an empty info.serving_device the replicas' devices.
void report_serving(ModelLaunch& launch);

}  // namespace inference::llama_server

// The flags shared by the commands that load a model (generate, chat, bench, demo, models, serve):
// which backend, which model file, and the LoadOptions knobs. A malformed --opt, --replicas or
// --devices is a usage error (exit 2), and so is --replicas, --devices or --rpc next to an --opt
// that sets the same backend option.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "inference/load_options.hpp"

namespace CLI {
class App;
}

namespace llmctl {

struct ModelFlags {
  std::string backend;  // empty: Registry::default_backend()
  std::string model;    // the stub accepts "" or "stub"
  uint32_t parallel_slots = inference::kDefaultParallelSlots;
  uint32_t context_len = 0;
  int32_t gpu_layers = -1;
  std::vector<std::string> backend_options;  // KEY=VALUE, validated while parsing
  bool server_log = false;                   // print the server's log lines on stderr
  uint32_t replicas = 0;                     // backend option replicas; 0: not given (the backend's default)
  std::string devices;                       // backend option devices ("0,1"); empty: not given
  std::string rpc;                           // backend option rpc ("HOST:PORT,..."); empty: not given

  inference::LoadOptions load_options() const;
};

// Adds --backend, --model, --slots, --ctx, --gpu-layers, --replicas, --devices, --rpc,
// --server-log and the repeatable --opt KEY=VALUE. --replicas N, --devices LIST and --rpc LIST
// are the backend options replicas=N, devices=LIST and rpc=LIST (a backend that has no such
// option refuses the load naming it; the llama_cpp backend checks the rpc list itself).
// with_model = false leaves out --model (commands that take model paths otherwise).
void add_model_flags(CLI::App& command, ModelFlags& flags, bool with_model = true);

}  // namespace llmctl

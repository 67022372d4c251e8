// Which models a gateway serves and under which names: llmctl serve's --model PATH (repeatable,
// served under the file's stem), --models DIR (every *.gguf in it, by stem) and
// --alias NAME=PATH. Pure functions apart from reading the directory; safe from any thread.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace inference::gateway {

struct ServedModel {
  std::string name;  // what clients put in "model"
  std::string path;  // what the backend loads (the stub backend accepts "stub")
  // This model's backend options, over the gateway's (llmctl serve --model-opt NAME:KEY=VALUE),
  // e.g. embeddings=true for one model of several. The initialiser keeps {name, path} warning-free.
  std::map<std::string, std::string> backend_options{};
};

// The catalogue from the three flags, sorted by name. Throws Error(invalid_argument) naming the
// offending flag for: an --alias without NAME=PATH, two models under one name, a --models
// directory that cannot be read or holds no *.gguf, and an empty result. Paths are not opened
// here (the backend reports a missing or invalid file when it loads it).
std::vector<ServedModel> build_catalog(const std::vector<std::string>& model_paths, const std::string& models_dir,
                                       const std::vector<std::string>& aliases);

// Applies llmctl serve's --model-opt NAME:KEY=VALUE items to the catalogue. Throws
// Error(invalid_argument) naming the item for one without NAME:KEY=VALUE or naming a model that
// is not served.
void apply_model_options(std::vector<ServedModel>& models, const std::vector<std::string>& items);

}  // namespace inference::gateway

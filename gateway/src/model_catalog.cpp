#include "inference/gateway/model_catalog.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <regex>
#include <system_error>

#include "inference/error.hpp"

namespace inference::gateway {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kModelExtension = ".gguf";

// llama.cpp's split models: x-00001-of-00003.gguf, x-00002-of-00003.gguf... The backend loads the
// first part (and finds the others itself), so only that part is a model, served as "x".
struct SplitPart {
  std::string base;
  bool first = false;
};

std::optional<SplitPart> split_part(const std::string& stem) {
  static const std::regex kSplit(R"((.+)-(\d{5})-of-(\d{5}))");
  std::smatch match;
  if (!std::regex_match(stem, match, kSplit)) return std::nullopt;
  return SplitPart{match[1].str(), match[2].str() == "00001"};
}

// The name a file is served under: its stem, without the split suffix of a first part.
std::string served_name(const fs::path& path) {
  std::string stem = path.stem().string();
  if (auto part = split_part(stem); part && part->first) return part->base;
  return stem;
}

// Every name with where it came from, so that a clash names both flags.
class CatalogBuilder {
 public:
  void add(std::string name, std::string path, std::string origin) {
    if (name.empty()) throw Error(errc::invalid_argument, origin + ": no model name can be made from it");
    const auto [it, inserted] = origins_.emplace(name, origin);
    if (!inserted) {
      throw Error(errc::invalid_argument, "duplicate model name '" + name + "' from " + it->second + " and " + origin);
    }
    models_.push_back(ServedModel{std::move(name), std::move(path)});
  }

  std::vector<ServedModel> finish() && {
    if (models_.empty()) throw Error(errc::invalid_argument, "no model to serve: give --model, --models or --alias");
    std::sort(models_.begin(), models_.end(),
              [](const ServedModel& a, const ServedModel& b) { return a.name < b.name; });
    return std::move(models_);
  }

 private:
  std::vector<ServedModel> models_;
  std::map<std::string, std::string> origins_;  // name -> "--model 'path'"
};

// The *.gguf files of `directory` (first split parts only), sorted by path.
std::vector<fs::path> model_files(const std::string& directory) {
  const std::string flag = "--models '" + directory + "'";
  std::vector<fs::path> files;
  std::error_code ec;
  fs::directory_iterator it(directory, ec);
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const fs::path& path = it->path();
    if (path.extension() != kModelExtension) continue;
    std::error_code type_ec;
    if (!fs::is_regular_file(path, type_ec)) continue;  // follows symlinks; skips directories
    const auto part = split_part(path.stem().string());
    if (part && !part->first) continue;
    files.push_back(path);
  }
  if (ec) throw Error(errc::invalid_argument, flag + ": cannot read the directory: " + ec.message());
  if (files.empty()) throw Error(errc::invalid_argument, flag + ": no *.gguf files");
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

std::vector<ServedModel> build_catalog(const std::vector<std::string>& model_paths, const std::string& models_dir,
                                       const std::vector<std::string>& aliases) {
  CatalogBuilder catalog;
  for (const std::string& path : model_paths) {
    if (path.empty()) throw Error(errc::invalid_argument, "--model '': expected a path");
    catalog.add(served_name(path), path, "--model '" + path + "'");
  }
  if (!models_dir.empty()) {
    for (const fs::path& file : model_files(models_dir)) {
      catalog.add(served_name(file), file.string(), "--models '" + models_dir + "' (" + file.filename().string() + ")");
    }
  }
  for (const std::string& alias : aliases) {
    const std::size_t equals = alias.find('=');
    if (equals == std::string::npos || equals == 0 || equals + 1 == alias.size()) {
      throw Error(errc::invalid_argument, "--alias '" + alias + "': expected NAME=PATH");
    }
    catalog.add(alias.substr(0, equals), alias.substr(equals + 1), "--alias '" + alias + "'");
  }
  return std::move(catalog).finish();
}

void apply_model_options(std::vector<ServedModel>& models, const std::vector<std::string>& items) {
  for (const std::string& item : items) {
    const auto colon = item.find(':');
    const auto equals = item.find('=', colon == std::string::npos ? 0 : colon);
    if (colon == std::string::npos || colon == 0 || equals == std::string::npos || equals == colon + 1) {
      throw Error(errc::invalid_argument, "--model-opt '" + item + "': expected NAME:KEY=VALUE");
    }
    const std::string name = item.substr(0, colon);
    const auto model = std::find_if(models.begin(), models.end(), [&](const ServedModel& m) { return m.name == name; });
    if (model == models.end()) {
      throw Error(errc::invalid_argument, "--model-opt '" + item + "': no served model is named '" + name + "'");
    }
    model->backend_options[item.substr(colon + 1, equals - colon - 1)] = item.substr(equals + 1);
  }
}

}  // namespace inference::gateway

#include "inference/gguf/model_discovery.hpp"

#include <algorithm>
#include <cctype>
#include <set>

#include "inference/error.hpp"
#include "inference/gguf/model_info_reader.hpp"
#include "inference/gguf/split_model.hpp"

namespace inference::gguf {
namespace {

namespace fs = std::filesystem;

bool has_gguf_extension(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".gguf";
}

DiscoveredModel failure(const fs::path& path, std::error_code code, std::string reason) {
  DiscoveredModel entry;
  entry.path = path;
  entry.error = code;
  entry.reason = std::move(reason);
  return entry;
}

void collect(const fs::path& dir, bool recursive, std::vector<fs::path>& files,
             std::vector<DiscoveredModel>& failures) {
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) {
    failures.push_back(failure(dir, ec, dir.string() + ": cannot list directory: " + ec.message()));
    return;
  }
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) {
      failures.push_back(failure(dir, ec, dir.string() + ": cannot list directory: " + ec.message()));
      return;
    }
    const auto& entry = *it;
    std::error_code status_ec;
    const bool is_link = entry.is_symlink(status_ec);
    if (entry.is_directory(status_ec)) {
      if (recursive && !is_link) {
        collect(entry.path(), recursive, files, failures);
      } else if (has_gguf_extension(entry.path())) {
        files.push_back(entry.path());  // reported by the reader as "is a directory"
      }
      continue;
    }
    if (has_gguf_extension(entry.path())) {
      files.push_back(entry.path());
    }
  }
}

}  // namespace

std::vector<DiscoveredModel> discover_models(const fs::path& dir, bool recursive, const ReaderLimits& limits) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw Error(errc::model_not_found, dir.string() + ": not a directory");
  }
  std::vector<fs::path> files;
  std::vector<DiscoveredModel> models;
  collect(dir, recursive, files, models);

  const std::set<fs::path> present(files.begin(), files.end());
  for (const auto& file : files) {
    const auto shard = parse_shard_name(file);
    if (shard && shard->index != 1 && shard->count > 1) {
      // Listed under its first shard; reported on its own only when that shard is missing.
      if (present.count(shard_paths(*shard).front()) == 0) {
        models.push_back(failure(file, make_error_code(errc::invalid_model),
                                 file.string() + ": shard " + std::to_string(shard->index) +
                                     " of a split model whose first shard is missing"));
      }
      continue;
    }
    try {
      DiscoveredModel entry;
      entry.path = file;
      entry.info = read_model_info(file, limits);
      models.push_back(std::move(entry));
    } catch (const Error& e) {
      models.push_back(failure(file, e.code(), e.what()));
    } catch (const std::exception& e) {
      models.push_back(failure(file, make_error_code(errc::invalid_model), file.string() + ": " + e.what()));
    }
  }
  std::sort(models.begin(), models.end(),
            [](const DiscoveredModel& a, const DiscoveredModel& b) { return a.path < b.path; });
  return models;
}

}  // namespace inference::gguf

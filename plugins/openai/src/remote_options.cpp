#include "inference/openai/remote_options.hpp"

#include <sys/stat.h>

#include <charconv>
#include <cstdlib>
#include <fstream>
#include <iterator>

#include "inference/error.hpp"

namespace inference::openai {
namespace {

constexpr std::string_view kKnownKeys =
    "base_url, model, api_key_env, api_key_file, max_in_flight, connect_timeout_ms, read_timeout_ms, retries, "
    "retry_backoff_ms, max_retry_delay_ms, ca_file, ignore_eos, protocol";

[[noreturn]] void refuse(const std::string& key, const std::string& value, std::string_view why) {
  throw Error(errc::invalid_argument, "openai backend option " + key + "=" + value + ": " + std::string(why));
}

std::uint64_t parse_number(const std::string& key, const std::string& value, std::uint64_t min, std::uint64_t max) {
  std::uint64_t out = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), out);
  if (value.empty() || ec != std::errc() || end != value.data() + value.size() || out < min || out > max) {
    refuse(key, value, "not a whole number from " + std::to_string(min) + " to " + std::to_string(max));
  }
  return out;
}

std::chrono::milliseconds parse_ms(const std::string& key, const std::string& value, std::uint64_t min) {
  constexpr std::uint64_t kMaxMs = 24ULL * 3600 * 1000;  // a day: anything longer is a mistake
  return std::chrono::milliseconds(parse_number(key, value, min, kMaxMs));
}

bool parse_flag(const std::string& key, const std::string& value) {
  if (value == "1" || value == "true") return true;
  if (value == "0" || value == "false") return false;
  refuse(key, value, "not 0, 1, true or false");
}

std::string trim_line_end(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
  return text;
}

std::string key_from_environment(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr || *value == '\0') {
    refuse("api_key_env", name, "the environment variable is not set or empty");
  }
  return trim_line_end(value);
}

std::string key_from_file(const std::string& path) {
  struct stat status {};
  if (::stat(path.c_str(), &status) != 0 || !S_ISREG(status.st_mode)) {
    refuse("api_key_file", path, "not a readable regular file");
  }
  if ((status.st_mode & S_IROTH) != 0) {
    refuse("api_key_file", path, "readable by every user of this machine; restrict it (chmod o-r) first");
  }
  std::ifstream file(path, std::ios::binary);
  std::string key;
  key.resize(kMaxApiKeyBytes + 1);
  file.read(key.data(), static_cast<std::streamsize>(key.size()));
  key.resize(static_cast<std::size_t>(file.gcount()));
  if (key.size() > kMaxApiKeyBytes) {
    refuse("api_key_file", path, "longer than " + std::to_string(kMaxApiKeyBytes) + " bytes: not an API key");
  }
  key = trim_line_end(std::move(key));
  if (key.empty()) refuse("api_key_file", path, "the file is empty");
  return key;
}

// Applies one key=value; false for a key this backend does not know.
bool apply(RemoteOptions& out, const std::string& key, const std::string& value) {
  if (key == "base_url") {
    out.url = parse_remote_url(value);
  } else if (key == "model") {
    out.model = value;
  } else if (key == "max_in_flight") {
    out.max_in_flight = static_cast<std::uint32_t>(parse_number(key, value, 1, kMaxInFlightLimit));
  } else if (key == "connect_timeout_ms") {
    out.connect_timeout = parse_ms(key, value, 1);
  } else if (key == "read_timeout_ms") {
    out.read_timeout = parse_ms(key, value, 1);
  } else if (key == "retries") {
    out.retries = static_cast<std::uint32_t>(parse_number(key, value, 0, 100));
  } else if (key == "retry_backoff_ms") {
    out.retry_backoff = parse_ms(key, value, 0);
  } else if (key == "max_retry_delay_ms") {
    out.max_retry_delay = parse_ms(key, value, 0);
  } else if (key == "ca_file") {
    out.ca_file = value;
  } else if (key == "ignore_eos") {
    out.ignore_eos = parse_flag(key, value);
  } else if (key == "protocol") {
    if (value != "openai" && value != "llama-server") refuse(key, value, "must be openai or llama-server");
    out.protocol = value == "openai" ? RemoteProtocol::openai : RemoteProtocol::llama_server;
  } else {
    return key == "api_key_env" || key == "api_key_file";  // read below, after the checks
  }
  return true;
}

void read_api_key(RemoteOptions& out, const std::map<std::string, std::string>& options) {
  const auto env = options.find("api_key_env");
  const auto file = options.find("api_key_file");
  if (env != options.end() && file != options.end()) {
    refuse("api_key_file", file->second, "give either api_key_env or api_key_file, not both");
  }
  if (env != options.end()) {
    out.api_key = key_from_environment(env->second);
    out.api_key_source = "api_key_env=" + env->second;
  } else if (file != options.end()) {
    out.api_key = key_from_file(file->second);
    out.api_key_source = "api_key_file=" + file->second;
  }
}

}  // namespace

RemoteOptions parse_remote_options(const std::string& model_argument, const LoadOptions& options) {
  RemoteOptions out;
  out.model = model_argument;
  out.max_in_flight = options.parallel_slots;
  out.queue_limit = options.queue_limit;
  for (const auto& [key, value] : options.backend_options) {
    if (!apply(out, key, value)) {
      throw Error(errc::invalid_argument,
                  "openai backend option " + key + ": unknown (known: " + std::string(kKnownKeys) + ")");
    }
  }
  if (options.backend_options.find("base_url") == options.backend_options.end()) {
    throw Error(errc::invalid_argument,
                "openai backend: the base_url option is required (e.g. "
                "--opt base_url=http://10.0.0.5:8080/v1)");
  }
  if (out.model.empty()) {
    throw Error(errc::invalid_argument,
                "openai backend: no model name: give the model option (--opt model=NAME) or a model argument");
  }
  if (out.max_in_flight == 0) throw Error(errc::invalid_argument, "openai backend: max_in_flight must be at least 1");
  read_api_key(out, options.backend_options);
  return out;
}

}  // namespace inference::openai

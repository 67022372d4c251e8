#include "inference/openai/remote_url.hpp"

#include <charconv>

#include "inference/error.hpp"

namespace inference::openai {
namespace {

constexpr std::uint16_t kHttpPort = 80;
constexpr std::uint16_t kHttpsPort = 443;
constexpr std::string_view kDefaultApiRoot = "/v1";

// base_url as it may be quoted: user info (a password, a key) replaced by "***".
std::string redacted(std::string_view base_url) {
  const std::size_t scheme_end = base_url.find("://");
  const std::size_t start = scheme_end == std::string_view::npos ? 0 : scheme_end + 3;
  const std::size_t authority_end = base_url.find_first_of("/?#", start);
  const std::size_t at = base_url.substr(0, authority_end).rfind('@');
  if (at == std::string_view::npos || at < start) return std::string(base_url);
  return std::string(base_url.substr(0, start)) + "***" + std::string(base_url.substr(at));
}

[[noreturn]] void refuse(std::string_view base_url, std::string_view why) {
  throw Error(errc::invalid_argument, "openai backend option base_url=" + redacted(base_url) + ": " + std::string(why));
}

std::uint16_t parse_port(std::string_view base_url, std::string_view text) {
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value == 0 || value > UINT16_MAX) {
    refuse(base_url, "port '" + std::string(text) + "' is not a number from 1 to 65535");
  }
  return static_cast<std::uint16_t>(value);
}

// Splits "host", "host:port", "[v6]" or "[v6]:port" into host and port text.
void split_authority(std::string_view base_url, std::string_view authority, RemoteUrl& url) {
  std::string_view port_text;
  if (authority.starts_with('[')) {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) refuse(base_url, "unterminated [IPv6] address");
    url.host = std::string(authority.substr(1, close - 1));
    const std::string_view rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (!rest.starts_with(':')) refuse(base_url, "unexpected text after the [IPv6] address");
      port_text = rest.substr(1);
      url.port = parse_port(base_url, port_text);
    }
  } else {
    const std::size_t colon = authority.rfind(':');
    url.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) url.port = parse_port(base_url, authority.substr(colon + 1));
  }
  if (url.host.empty()) refuse(base_url, "no host");
}

}  // namespace

RemoteUrl parse_remote_url(std::string_view base_url) {
  RemoteUrl url;
  std::string_view rest = base_url;
  if (rest.starts_with("https://")) {
    url.tls = true;
    rest.remove_prefix(std::string_view("https://").size());
  } else if (rest.starts_with("http://")) {
    rest.remove_prefix(std::string_view("http://").size());
  } else {
    refuse(base_url, "must start with http:// or https://");
  }
  if (rest.find_first_of("?#") != std::string_view::npos) refuse(base_url, "a query or fragment is not allowed");
  const std::size_t slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  if (authority.find('@') != std::string_view::npos) {
    refuse(base_url,
           "user info in the URL is refused: credentials in a URL end up in process listings and logs; "
           "use api_key_env or api_key_file");
  }
  split_authority(base_url, authority, url);
  if (url.port == 0) url.port = url.tls ? kHttpsPort : kHttpPort;
  std::string_view path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
  while (path.ends_with('/')) path.remove_suffix(1);
  url.api_root = path.empty() ? std::string(kDefaultApiRoot) : std::string(path);
  return url;
}

std::string RemoteUrl::origin() const {
  const bool v6 = host.find(':') != std::string::npos;
  std::string text = tls ? "https://" : "http://";
  text += v6 ? "[" + host + "]" : host;
  text += ':' + std::to_string(port);
  return text;
}

std::string RemoteUrl::host_header() const {
  const bool v6 = host.find(':') != std::string::npos;
  std::string text = v6 ? "[" + host + "]" : host;
  if (port != (tls ? kHttpsPort : kHttpPort)) text += ':' + std::to_string(port);
  return text;
}

std::string RemoteUrl::endpoint(std::string_view path) const { return api_root + std::string(path); }

std::string RemoteUrl::native_endpoint(std::string_view path) const {
  std::string_view root = api_root;
  if (root.ends_with(kDefaultApiRoot)) root.remove_suffix(kDefaultApiRoot.size());
  return std::string(root) + std::string(path);
}

}  // namespace inference::openai

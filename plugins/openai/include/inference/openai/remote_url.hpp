// RemoteUrl: where an OpenAI-compatible server is, parsed from the openai backend's base_url
// option ("https://api.example.com/v1", "http://10.0.0.5:8080"): scheme, host, port and the path
// the API's endpoints hang off.
//
// Ownership: a plain value. Thread-safety: immutable after parsing; safe to share.
// Cancellation: not applicable.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace inference::openai {

struct RemoteUrl {
  bool tls = false;        // https
  std::string host;        // a name or an address, IPv6 without its brackets
  std::uint16_t port = 0;  // explicit, or 80 / 443
  // The OpenAI API root, without a trailing slash: "/v1", or "/proxy/v1". Endpoints are this
  // plus "/completions" or "/chat/completions".
  std::string api_root;

  // "https://host:port" (brackets around IPv6), without the path: for messages and the Host header.
  std::string origin() const;
  // The Host header value: the host, with the port when it is not the scheme's default.
  std::string host_header() const;
  // The request target of an endpoint below api_root, e.g. endpoint("/completions").
  std::string endpoint(std::string_view path) const;
  // The request target of a llama-server endpoint beside the API root, e.g.
  // native_endpoint("/completion"): api_root without its last "/v1" ("/v1" -> "/completion",
  // "/proxy/v1" -> "/proxy/completion"; a root not ending in "/v1" is taken as the server's).
  std::string native_endpoint(std::string_view path) const;
};

// Parses base_url. The path is the API root the OpenAI SDKs take ("/v1", "/openai/v1"); a URL
// with no path, or "/", means the server root and gets "/v1". Throws Error(invalid_argument)
// naming base_url and the fault: a scheme other than http or https, no host, a bad port, user
// info (a key in a URL ends up in process listings and logs: use api_key_env or api_key_file),
// a query or a fragment.
RemoteUrl parse_remote_url(std::string_view base_url);

}  // namespace inference::openai

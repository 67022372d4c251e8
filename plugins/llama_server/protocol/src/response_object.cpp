#include "response_object.hpp"

#include <boost/json/parse.hpp>
#include <string>

#include "inference/error.hpp"

namespace inference::llama_server::detail {

boost::json::object parse_response_object(std::string_view body, std::string_view endpoint) {
  boost::system::error_code ec;
  boost::json::value parsed = boost::json::parse(body, ec);
  if (ec) {
    throw Error(errc::protocol_error,
                "llama-server's " + std::string(endpoint) + " response is not JSON: " + ec.message());
  }
  if (!parsed.is_object()) {
    throw Error(errc::protocol_error, "llama-server's " + std::string(endpoint) + " response is not a JSON object");
  }
  return std::move(parsed.as_object());
}

}  // namespace inference::llama_server::detail

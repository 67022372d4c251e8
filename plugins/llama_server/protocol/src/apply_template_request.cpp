#include "inference/llama_server/apply_template_request.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "inference/error.hpp"

namespace inference::llama_server {

std::string apply_template_request_body(std::span<const ChatMessage> messages) {
  boost::json::array list;
  list.reserve(messages.size());
  for (const ChatMessage& message : messages) {
    list.emplace_back(boost::json::object{{"role", message.role}, {"content", message.content}});
  }
  return boost::json::serialize(boost::json::object{{"messages", std::move(list)}});
}

std::string parse_apply_template_response(std::string_view body) {
  boost::system::error_code ec;
  const boost::json::value parsed = boost::json::parse(body, ec);
  if (ec) {
    throw Error(errc::protocol_error, "llama-server's /apply-template response is not JSON: " + ec.message());
  }
  const boost::json::object* object = parsed.if_object();
  const boost::json::value* prompt = object ? object->if_contains("prompt") : nullptr;
  if (prompt == nullptr || !prompt->is_string()) {
    throw Error(errc::protocol_error, "llama-server's /apply-template response has no string \"prompt\"");
  }
  return std::string(prompt->as_string());
}

}  // namespace inference::llama_server

#include "inference/llama_server/server_props.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <limits>

#include "inference/error.hpp"

namespace inference::llama_server {

namespace json = boost::json;

namespace {

// A slot count or a context size: a JSON integer that fits uint32_t. Anything else would wrap
// around silently (-1 slots read as 4294967295).
bool is_uint32(const json::value& value) {
  return value.is_int64() && value.get_int64() >= 0 && value.get_int64() <= std::numeric_limits<uint32_t>::max();
}

}  // namespace

ServerProps parse_server_props(std::string_view body) {
  boost::system::error_code ec;
  const json::value doc = json::parse(body, ec);
  if (ec || !doc.is_object()) throw Error(errc::protocol_error, "GET /props: not a JSON object");
  const auto& obj = doc.get_object();
  ServerProps props;
  const auto* slots = obj.if_contains("total_slots");
  if (!slots || !is_uint32(*slots)) {
    throw Error(errc::protocol_error, "GET /props: total_slots missing or not a slot count");
  }
  props.total_slots = static_cast<uint32_t>(slots->as_int64());
  if (const auto* settings = obj.if_contains("default_generation_settings"); settings && settings->is_object()) {
    if (const auto* n_ctx = settings->get_object().if_contains("n_ctx"); n_ctx && n_ctx->is_int64()) {
      if (!is_uint32(*n_ctx)) {
        throw Error(errc::protocol_error, "GET /props: default_generation_settings.n_ctx out of range");
      }
      props.context_per_slot = static_cast<uint32_t>(n_ctx->as_int64());
    }
  }
  if (const auto* build = obj.if_contains("build_info"); build && build->is_string()) {
    props.build_info = std::string(build->get_string());
  }
  if (const auto* tmpl = obj.if_contains("chat_template"); tmpl && tmpl->is_string()) {
    props.has_chat_template = !tmpl->get_string().empty();
  }
  return props;
}

void verify_server_props(const ServerProps& props, uint32_t slots, uint32_t context_per_slot) {
  if (props.total_slots != slots) {
    throw Error(errc::child_start_failed, "llama-server runs " + std::to_string(props.total_slots) + " slots, " +
                                              std::to_string(slots) + " were asked for");
  }
  if (context_per_slot != 0 && props.context_per_slot != context_per_slot) {
    throw Error(errc::child_start_failed, "llama-server gives each slot a context of " +
                                              std::to_string(props.context_per_slot) + " tokens, " +
                                              std::to_string(context_per_slot) + " were asked for");
  }
}

}  // namespace inference::llama_server

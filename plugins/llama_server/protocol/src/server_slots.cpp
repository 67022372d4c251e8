#include "inference/llama_server/server_slots.hpp"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/parse_options.hpp>
#include <boost/json/value.hpp>
#include <limits>
#include <string>

#include "inference/error.hpp"

namespace inference::llama_server {

namespace json = boost::json;

std::vector<ServerSlot> parse_server_slots(std::string_view body) {
  if (body.size() > kMaxServerSlotsBodyBytes) {
    throw Error(errc::protocol_error, "GET /slots: answer of " + std::to_string(body.size()) + " bytes exceeds " +
                                          std::to_string(kMaxServerSlotsBodyBytes));
  }
  json::parse_options options;
  options.max_depth = kMaxServerSlotsDepth;
  boost::system::error_code ec;
  const json::value doc = json::parse(body, ec, json::storage_ptr(), options);
  if (ec || !doc.is_array()) throw Error(errc::protocol_error, "GET /slots: not a JSON array");
  std::vector<ServerSlot> slots;
  for (const auto& entry : doc.get_array()) {
    const auto* obj = entry.if_object();
    if (!obj) continue;
    const auto* id = obj->if_contains("id");
    if (!id || !id->is_int64() || id->as_int64() < 0 || id->as_int64() > std::numeric_limits<uint32_t>::max()) {
      continue;
    }
    const auto* processing = obj->if_contains("is_processing");
    slots.push_back(ServerSlot{static_cast<uint32_t>(id->as_int64()),
                               processing && processing->is_bool() && processing->as_bool()});
  }
  return slots;
}

bool is_slot_processing(std::string_view body, uint32_t slot) {
  const auto slots = parse_server_slots(body);
  const auto found = std::find_if(slots.begin(), slots.end(), [&](const ServerSlot& s) { return s.id == slot; });
  if (found == slots.end()) {
    throw Error(errc::protocol_error, "GET /slots: slot " + std::to_string(slot) + " missing");
  }
  return found->is_processing;
}

}  // namespace inference::llama_server

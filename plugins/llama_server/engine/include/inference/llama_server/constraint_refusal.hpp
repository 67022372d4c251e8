// How the engine reports llama-server refusing a request's output constraint. The server finds a
// bad GenerateConfig::json_schema (it converts the schema into a grammar) or ::grammar only when
// the request reaches it, and answers HTTP 400 before the stream starts, e.g. "Failed to
// initialize samplers: failed to parse grammar". That is the caller's invalid argument, not a
// server failure (no restart; the slot is handed on as after any error answer).
//
// Ownership: plain values. Thread-safety: the function is pure; safe from any thread.
// Cancellation: not applicable.
#pragma once

#include <optional>
#include <string>

#include "inference/error.hpp"
#include "inference/generate_config.hpp"
#include "inference/llama_server/server_error.hpp"

namespace inference::llama_server {

// Error(invalid_argument) "llama-server refused GenerateConfig::<grammar|json_schema>: <the
// server's message>", with `server_output` (the server's last output lines: for a grammar, its
// parser says there what is wrong and where) as the detail, when `error` is such a refusal: the
// config has a json_schema or a grammar, and the server answered 400 with a message about the
// grammar or the json_schema. Otherwise std::nullopt (the error stands as it is, e.g. a prompt
// longer than the context).
std::optional<Error> constraint_refusal(const ServerError& error, const GenerateConfig& config,
                                        std::string server_output);

}  // namespace inference::llama_server

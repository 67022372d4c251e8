// llmctl tokenize: load a model and print the token ids and pieces of a text, or with
// --detokenize the text of token ids. Text mode prints one token per line, "<id>\t<piece>", the
// piece as a JSON string (so spaces and line breaks show); --json prints one object,
// {"tokens":[{"id":…,"piece":…},…]} or {"text":…}. A piece that is not UTF-8 by itself (a byte
// token) is printed as "bytes":[…] in JSON and as <XX> hex bytes in text.
#include <CLI/CLI.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <charconv>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "command_context.hpp"
#include "commands.hpp"
#include "inference/error.hpp"
#include "inference/registry.hpp"
#include "inference/text_model.hpp"
#include "json_output.hpp"
#include "model_flags.hpp"
#include "positional_text.hpp"

namespace llmctl {

namespace {

namespace asio = boost::asio;

struct TokenizeOptions {
  PluginFlags plugins;
  ModelFlags model;
  bool detokenize = false;
  bool add_special = false;
  bool json = false;
  std::vector<std::string> input;  // words of the text, or ids
  std::vector<int32_t> ids;        // --detokenize: parsed while the command line is
};

// "1 15043" as two arguments, or "1,15043" as one: a malformed id is a usage error naming it.
std::vector<int32_t> parse_ids(const std::vector<std::string>& arguments) {
  std::vector<int32_t> ids;
  for (const std::string& argument : arguments) {
    std::size_t start = 0;
    while (start <= argument.size()) {
      const std::size_t end = std::min(argument.find(',', start), argument.size());
      const std::string item = argument.substr(start, end - start);
      int32_t id = 0;
      const auto [stop, ec] = std::from_chars(item.data(), item.data() + item.size(), id);
      if (ec != std::errc() || stop != item.data() + item.size()) {
        throw CLI::ValidationError("--detokenize", "expects token ids such as 1 15043 or 1,15043; got '" + item + "'");
      }
      ids.push_back(id);
      start = end + 1;
    }
  }
  return ids;
}

// Whether the bytes are well-formed UTF-8 (JSON strings must be).
bool is_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    const std::size_t length = lead < 0x80           ? 1
                               : (lead >> 5) == 0x6  ? 2
                               : (lead >> 4) == 0xE  ? 3
                               : (lead >> 3) == 0x1E ? 4
                                                     : 0;
    if (length == 0 || i + length > text.size()) return false;
    for (std::size_t k = 1; k < length; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) return false;
    }
    i += length;
  }
  return true;
}

boost::json::object piece_json(const inference::Token& token) {
  boost::json::object out;
  out["id"] = token.id;
  if (is_utf8(token.text)) {
    out["piece"] = token.text;
  } else {
    boost::json::array bytes;
    for (const char c : token.text) bytes.emplace_back(static_cast<unsigned char>(c));
    out["bytes"] = std::move(bytes);
  }
  return out;
}

std::string piece_text(const std::string& piece) {
  if (is_utf8(piece)) return boost::json::serialize(boost::json::value(piece));
  std::string out;
  for (const char c : piece) {
    constexpr const char* kHex = "0123456789ABCDEF";
    const auto byte = static_cast<unsigned char>(c);
    out += '<';
    out += kHex[byte >> 4];
    out += kHex[byte & 0xF];
    out += '>';
  }
  return out;
}

void print_tokens(const std::vector<inference::Token>& tokens, bool json) {
  if (json) {
    boost::json::array list;
    for (const inference::Token& token : tokens) list.emplace_back(piece_json(token));
    print_json_line(boost::json::object{{"tokens", std::move(list)}});
    return;
  }
  for (const inference::Token& token : tokens) std::printf("%d\t%s\n", token.id, piece_text(token.text).c_str());
  std::fflush(stdout);
}

void print_text(const std::string& text, bool json) {
  if (json) {
    print_json_line(boost::json::object{{"text", is_utf8(text) ? text : std::string("\xEF\xBF\xBD")}});
    return;
  }
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fputs("\n", stdout);
  std::fflush(stdout);
}

asio::awaitable<void> tokenize(inference::Registry& registry, const TokenizeOptions& options) {
  auto model = co_await registry.load_model(options.model.model, options.model.load_options(), options.model.backend);
  if (options.detokenize) {
    print_text(co_await model->detokenize(options.ids), options.json);
  } else {
    print_tokens(co_await model->tokenize(positional_text(options.input), options.add_special), options.json);
  }
  co_await model->close();
}

int run_tokenize(const TokenizeOptions& options) {
  CommandContext context(options.plugins);
  context.warn_plugin_failures();
  return context.run([&] { return tokenize(context.registry(), options); });
}

}  // namespace

void add_tokenize_command(CLI::App& app, CommandAction& action) {
  auto options = std::make_shared<TokenizeOptions>();
  auto* command = app.add_subcommand("tokenize",
                                     "Print a text's token ids and pieces, or with --detokenize the "
                                     "text of token ids (no slot taken)");
  add_plugin_flags(*command, options->plugins);
  add_model_flags(*command, options->model);
  command->add_flag("--detokenize", options->detokenize,
                    "The arguments are token ids (1 15043 or 1,15043): print their text");
  command->add_flag("--add-special", options->add_special,
                    "Add what the model puts before a prompt (e.g. BOS), as generation does");
  command->add_flag("--json", options->json,
                    "One JSON object: {\"tokens\":[{\"id\",\"piece\"},...]} or, with --detokenize, {\"text\"}");
  command->add_option("input", options->input, "The text, or with --detokenize the token ids")
      ->required()
      ->type_name("TEXT|IDS");
  command->callback([options, &action] {
    if (options->detokenize) options->ids = parse_ids(options->input);
    action = [options] { return run_tokenize(*options); };
  });
}

}  // namespace llmctl

// llmctl info: what a GGUF model file is, read from its metadata (no backend involved).
#include <fmt/core.h>
#include <CLI/CLI.hpp>

#include <memory>
#include <string>

#include "byte_size.hpp"
#include "commands.hpp"
#include "exit_status.hpp"
#include "inference/gguf/model_info_json.hpp"
#include "inference/gguf/model_info_reader.hpp"
#include "json_output.hpp"
#include "text_table.hpp"

namespace llmctl {

namespace {

struct InfoOptions {
  std::string path;
  bool json = false;
};

std::string or_dash(const std::string& text) { return text.empty() ? "-" : text; }

void print_info_table(const inference::ModelInfo& info) {
  TextTable table;
  table.add_row({"path", info.path});
  table.add_row({"name", or_dash(info.name)});
  table.add_row({"architecture", info.architecture});
  table.add_row({"size label", or_dash(info.size_label)});
  table.add_row(
      {"file type", fmt::format("{} ({:.2f} bits per weight)", or_dash(info.file_type), info.bits_per_weight)});
  table.add_row({"context length", fmt::format("{}", info.context_length)});
  table.add_row({"layers", fmt::format("{}", info.block_count)});
  table.add_row({"embedding length", fmt::format("{}", info.embedding_length)});
  table.add_row({"heads (kv)", fmt::format("{} ({})", info.head_count, info.head_count_kv)});
  table.add_row({"vocabulary", fmt::format("{} tokens, {} tokenizer", info.vocab_size, or_dash(info.tokenizer_model))});
  table.add_row({"chat template", info.has_chat_template ? "yes" : "no"});
  table.add_row({"gguf version", fmt::format("{}", info.gguf_version)});
  table.add_row({"tensors", fmt::format("{} ({})", info.tensor_count, format_bytes(info.tensor_bytes))});
  table.add_row({"file size", format_bytes(info.file_size)});
  if (info.shards.size() > 1) table.add_row({"shards", fmt::format("{}", info.shards.size())});
  table.print(stdout);
}

int run_info(const InfoOptions& options) {
  const auto info = inference::gguf::read_model_info(options.path);
  if (options.json) {
    print_json_line(inference::gguf::to_json(info));
  } else {
    print_info_table(info);
  }
  return kExitSuccess;
}

}  // namespace

void add_info_command(CLI::App& app, CommandAction& action) {
  auto options = std::make_shared<InfoOptions>();
  auto* command = app.add_subcommand("info", "Show what a GGUF model file is (architecture, size, context...)");
  command->add_option("model", options->path, "The .gguf file (any shard of a split model)")
      ->required()
      ->type_name("MODEL.gguf");
  command->add_flag("--json", options->json, "Print the model's metadata as one JSON object");
  command->callback([options, &action] { action = [options] { return run_info(*options); }; });
}

}  // namespace llmctl

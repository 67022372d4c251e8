#include "constraint_flags.hpp"

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace llmctl {

namespace {

// The whole file, or a CLI11 validation error (a usage error) naming the flag and the file. An
// empty file is refused too: it would silently constrain nothing.
std::string read_flag_file(const std::string& flag, const std::string& path) {
  const auto refuse = [&](const std::string& why) {
    return CLI::ValidationError(flag, "cannot read '" + path + "': " + why);
  };
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw refuse("it is a directory");
  errno = 0;
  std::ifstream file(path, std::ios::binary);
  if (!file) throw refuse(errno != 0 ? std::strerror(errno) : "cannot open it");
  std::ostringstream text;
  text << file.rdbuf();
  if (file.bad()) throw refuse("read error");
  if (text.str().empty()) throw refuse("it is empty");
  return text.str();
}

}  // namespace

void add_constraint_flags(CLI::App& command, inference::GenerateConfig& config) {
  auto* schema =
      command
          .add_option_function<std::string>(
              "--json-schema",
              [&config](const std::string& path) { config.json_schema = read_flag_file("--json-schema", path); },
              "Constrain the output to JSON matching the JSON Schema in FILE")
          ->type_name("FILE");
  auto* grammar =
      command
          .add_option_function<std::string>(
              "--grammar", [&config](const std::string& path) { config.grammar = read_flag_file("--grammar", path); },
              "Constrain the output to the GBNF grammar in FILE (llama.cpp's grammar format)")
          ->type_name("FILE");
  schema->excludes(grammar);
}

}  // namespace llmctl

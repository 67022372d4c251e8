// The installed table of engine options (engine_option_keys.hpp) is what a host developer reads:
// it must list the keys the parser accepts, with the defaults the engine really uses, and
// docs/architecture.md must show the same table.
#include "inference/llama_server/engine_option_keys.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "inference/error.hpp"
#include "inference/llama_server/engine_options.hpp"
#include "support/test_inputs.hpp"

namespace inference::llama_server {
namespace {

using ::testing::HasSubstr;

TEST(EngineOptionKeysTest, EveryDocumentedDefaultParsesToTheEnginesOwnDefault) {
  const EngineOptions defaults = parse_engine_options({});
  for (const auto& key : engine_option::kKeys) {
    if (key.default_value.empty()) continue;  // "unset" is not a value one can write
    const EngineOptions parsed = parse_engine_options({{std::string(key.name), std::string(key.default_value)}});
    EXPECT_TRUE(parsed == defaults) << key.name << "=" << key.default_value << " is not the default";
  }
}

TEST(EngineOptionKeysTest, TheUnknownKeyErrorListsEveryKeyOfTheTable) {
  try {
    parse_engine_options({{"no_such_key", "1"}});
    FAIL() << "an unknown key was accepted";
  } catch (const Error& error) {
    for (const auto& key : engine_option::kKeys) EXPECT_THAT(error.what(), HasSubstr(std::string(key.name)));
  }
}

TEST(EngineOptionKeysTest, ArchitectureDocShowsEveryKeyWithItsDefault) {
  const auto doc = test::source_dir_for_tests() / "docs/architecture.md";
  std::ifstream in(doc);
  ASSERT_TRUE(in) << "cannot read " << doc;
  std::stringstream text;
  text << in.rdbuf();
  for (const auto& key : engine_option::kKeys) {
    const std::string value = key.default_value.empty() ? "unset" : "`" + std::string(key.default_value) + "`";
    EXPECT_THAT(text.str(), HasSubstr("| `" + std::string(key.name) + "` | " + value + " |")) << doc;
  }
}

}  // namespace
}  // namespace inference::llama_server

// write_tool_template_model <source.gguf> <destination.gguf>: the tiny model with a chat template
// that renders tools (tests/support/tool_template_model.hpp), for the Node suite's tool tests
// (tests/gateway/node/tools.test.mjs), which serve it through llmctl serve.
#include <cstdio>
#include <exception>

#include "support/tool_template_model.hpp"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s <source.gguf> <destination.gguf>\n", argv[0]);
    return 2;
  }
  try {
    inference::test::write_tool_template_model(argv[1], argv[2]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "write_tool_template_model: %s\n", e.what());
    return 1;
  }
  return 0;
}

#include "test_data.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace inference::llama_server::test {

std::string read_test_data(std::string_view name) {
  const std::string path = std::string(LLAMA_SERVER_TEST_DATA_DIR) + "/" + std::string(name);
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    ADD_FAILURE() << "cannot read test data " << path;
    return {};
  }
  std::ostringstream content;
  content << file.rdbuf();
  return content.str();
}

}  // namespace inference::llama_server::test

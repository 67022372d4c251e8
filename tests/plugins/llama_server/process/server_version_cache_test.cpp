// The version memo: a binary is probed once per file identity, and probed again when the file
// changes or its last probe failed.
#include "inference/llama_server/server_version_cache.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "inference/error.hpp"

namespace inference::llama_server {
namespace {

namespace fs = std::filesystem;

class ServerVersionCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string name = (fs::temp_directory_path() / "server-version-cache-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(name.data()), nullptr);
    root_ = name;
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(root_, ignored);
  }

  // A stand-in that prints a version line; each run appends a line to runs.log so the test can
  // count real executions independently of the cache's own counter.
  fs::path fake_server(const std::string& name, int build) {
    const fs::path path = root_ / name;
    std::ofstream(path) << "#!/bin/sh\necho run >> '" << (root_ / "runs.log").string() << "'\n"
                        << "echo 'version: " << build << " (abcdef12)' >&2\n";
    fs::permissions(path, fs::perms::owner_all);
    return path;
  }
  int runs() const {
    std::ifstream log(root_ / "runs.log");
    int lines = 0;
    for (std::string line; std::getline(log, line);) ++lines;
    return lines;
  }

  fs::path root_;
};

TEST_F(ServerVersionCacheTest, SecondProbeOfAnUnchangedBinaryDoesNotRunIt) {
  const auto binary = fake_server("llama-server", 7001);
  EXPECT_EQ(probe_server_version_cached(binary).build, 7001);
  EXPECT_EQ(probe_server_version_cached(binary).build, 7001);
  EXPECT_EQ(runs(), 1);
}

TEST_F(ServerVersionCacheTest, ASymlinkSharesTheEntryOfItsTarget) {
  const auto binary = fake_server("llama-server", 7002);
  const auto link = root_ / "link-to-server";
  fs::create_symlink(binary, link);
  EXPECT_EQ(probe_server_version_cached(binary).build, 7002);
  EXPECT_EQ(probe_server_version_cached(link).build, 7002);
  EXPECT_EQ(runs(), 1);
}

TEST_F(ServerVersionCacheTest, ReplacingTheBinaryProbesAgain) {
  const auto binary = fake_server("llama-server", 7003);
  EXPECT_EQ(probe_server_version_cached(binary).build, 7003);
  // An upgrade writes a new file: a different size here (and a new inode when renamed over).
  const auto upgraded = fake_server("llama-server.new", 17004);
  fs::rename(upgraded, binary);
  EXPECT_EQ(probe_server_version_cached(binary).build, 17004);
  EXPECT_EQ(runs(), 2);
}

TEST_F(ServerVersionCacheTest, AFailedProbeIsNotRemembered) {
  const fs::path binary = root_ / "broken";
  std::ofstream(binary) << "#!/bin/sh\necho run >> '" << (root_ / "runs.log").string() << "'\nexit 3\n";
  fs::permissions(binary, fs::perms::owner_all);
  EXPECT_THROW(probe_server_version_cached(binary), Error);
  EXPECT_THROW(probe_server_version_cached(binary), Error);
  EXPECT_EQ(runs(), 2);
}

}  // namespace
}  // namespace inference::llama_server

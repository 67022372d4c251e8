#include "inference/llama_server/server_binary.hpp"
#include "inference/llama_server/server_version_probe.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "inference/error.hpp"

namespace inference::llama_server {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;

class ServerBinaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string name = (fs::temp_directory_path() / "server-binary-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(name.data()), nullptr);
    root_ = name;
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(root_, ignored);
  }

  fs::path write_file(const fs::path& relative, const std::string& content, fs::perms perms) {
    const fs::path path = root_ / relative;
    fs::create_directories(path.parent_path());
    std::ofstream(path) << content;
    fs::permissions(path, perms);
    return path;
  }
  fs::path executable(const fs::path& relative, const std::string& script = "#!/bin/sh\n") {
    return write_file(relative, script, fs::perms::owner_all);
  }

  EnvLookup env_of(std::map<std::string, std::string> variables) {
    return [variables = std::move(variables)](std::string_view name) -> std::optional<std::string> {
      const auto it = variables.find(std::string(name));
      if (it == variables.end()) return std::nullopt;
      return it->second;
    };
  }

  fs::path root_;
};

// The one line and, after a line break, the detail of the error `f` throws.
template <typename F>
std::string start_failure(F&& f) {
  try {
    f();
  } catch (const Error& error) {
    EXPECT_TRUE(error.is(errc::child_start_failed)) << error.what();
    return std::string(error.what()) + "\n" + error.detail();
  }
  ADD_FAILURE() << "no Error thrown";
  return {};
}

// probe_server_version() run to completion on an io_context of its own.
ServerVersion probe(const fs::path& binary, std::chrono::milliseconds timeout = kVersionProbeTimeout) {
  boost::asio::io_context io;
  auto version = boost::asio::co_spawn(io, probe_server_version(binary, timeout), boost::asio::use_future);
  io.run();
  return version.get();
}

// True when this process has no child left, not even a zombie.
bool no_children_left() { return ::waitpid(-1, nullptr, WNOHANG) == -1 && errno == ECHILD; }

TEST_F(ServerBinaryTest, ExplicitPathWinsOverEnvironmentAndPath) {
  const auto explicit_binary = executable("explicit/llama-server");
  const auto env_binary = executable("env/llama-server");
  executable("bin/llama-server");
  const auto found = find_server_binary(
      explicit_binary, env_of({{"LLAMA_SERVER_PATH", env_binary.string()}, {"PATH", (root_ / "bin").string()}}));
  EXPECT_EQ(found, explicit_binary);
}

TEST_F(ServerBinaryTest, EnvironmentVariableIsUsedWithoutExplicitPath) {
  const auto env_binary = executable("env/custom-name");
  executable("bin/llama-server");
  const auto found = find_server_binary(
      std::nullopt, env_of({{"LLAMA_SERVER_PATH", env_binary.string()}, {"PATH", (root_ / "bin").string()}}));
  EXPECT_EQ(found, env_binary);
}

TEST_F(ServerBinaryTest, PathSearchSkipsUnusableEntriesAndFindsTheFirstExecutable) {
  write_file("noexec/llama-server", "#!/bin/sh\n", fs::perms::owner_read | fs::perms::owner_write);
  fs::create_directories(root_ / "dir/llama-server");
  const auto good = executable("good/llama-server");
  executable("later/llama-server");
  const std::string path = "relative/bin::" + (root_ / "missing").string() + ":" + (root_ / "noexec").string() + ":" +
                           (root_ / "dir").string() + ":" + (root_ / "good").string() + ":" +
                           (root_ / "later").string();
  EXPECT_EQ(find_server_binary(std::nullopt, env_of({{"PATH", path}}), std::nullopt), good);
}

TEST_F(ServerBinaryTest, NothingFoundNamesEveryPlaceTriedAndWhy) {
  write_file("noexec/llama-server", "#!/bin/sh\n", fs::perms::owner_read);
  fs::create_directories(root_ / "dir/llama-server");
  const std::string path =
      (root_ / "missing").string() + ":" + (root_ / "noexec").string() + ":" + (root_ / "dir").string();
  const auto message = start_failure([&] { find_server_binary(std::nullopt, env_of({{"PATH", path}}), std::nullopt); });
  EXPECT_THAT(message, AllOf(HasSubstr("server_path not set"), HasSubstr("LLAMA_SERVER_PATH not set"),
                             HasSubstr("not in PATH directories " + (root_ / "missing").string()),
                             HasSubstr((root_ / "noexec/llama-server").string() + " is not executable"),
                             HasSubstr((root_ / "dir/llama-server").string() + " is a directory")));
}

// The search order, each place shadowing the ones after it: server_path, LLAMA_SERVER_PATH, the
// build's configured default, PATH.
TEST_F(ServerBinaryTest, SearchOrderIsExplicitPathThenEnvironmentThenConfiguredDefaultThenPath) {
  const auto explicit_binary = executable("explicit/llama-server");
  const auto env_binary = executable("env/llama-server");
  const auto configured = executable("deps/bin/llama-server");
  const auto on_path = executable("bin/llama-server");
  const std::string path = (root_ / "bin").string();
  const auto with_variable = env_of({{"LLAMA_SERVER_PATH", env_binary.string()}, {"PATH", path}});
  const auto without_variable = env_of({{"PATH", path}});

  EXPECT_EQ(find_server_binary(explicit_binary, with_variable, configured), explicit_binary);
  EXPECT_EQ(find_server_binary(std::nullopt, with_variable, configured), env_binary);
  EXPECT_EQ(find_server_binary(std::nullopt, without_variable, configured), configured);
  EXPECT_EQ(find_server_binary(std::nullopt, without_variable, std::nullopt), on_path);
}

// The configured default is only a default: when scripts/setup never ran (or its install was
// removed) a llama-server on PATH is still found, and the error names the default when none is.
TEST_F(ServerBinaryTest, MissingConfiguredDefaultFallsBackToPathAndIsNamedWhenNothingIsFound) {
  const auto configured = root_ / "deps/bin/llama-server";
  const auto on_path = executable("bin/llama-server");
  EXPECT_EQ(find_server_binary(std::nullopt, env_of({{"PATH", (root_ / "bin").string()}}), configured), on_path);

  const auto message = start_failure([&] {
    find_server_binary(std::nullopt, env_of({{"PATH", (root_ / "empty").string()}}), configured);
  });
  EXPECT_THAT(message, AllOf(HasSubstr("LLAMA_SERVER_PATH not set"),
                             HasSubstr("configured default " + configured.string() + " does not exist"),
                             HasSubstr("not in PATH directories " + (root_ / "empty").string())));
}

// ggml-rpc-server is found like llama-server: --worker-path, GGML_RPC_SERVER_PATH, the file beside
// the configured llama-server, PATH.
TEST_F(ServerBinaryTest, RpcWorkerSearchOrderIsExplicitPathThenEnvironmentThenBesideTheServerThenPath) {
  const auto explicit_binary = executable("explicit/ggml-rpc-server");
  const auto env_binary = executable("env/ggml-rpc-server");
  const auto configured = executable("deps/bin/ggml-rpc-server");
  const auto on_path = executable("bin/ggml-rpc-server");
  const std::string path = (root_ / "bin").string();
  const auto with_variable = env_of({{"GGML_RPC_SERVER_PATH", env_binary.string()}, {"PATH", path}});
  const auto without_variable = env_of({{"PATH", path}});

  EXPECT_EQ(configured_rpc_worker_binary(root_ / "deps/bin/llama-server"), configured);
  EXPECT_EQ(configured_rpc_worker_binary(std::nullopt), std::nullopt);
  EXPECT_EQ(find_rpc_worker_binary(explicit_binary, with_variable, configured), explicit_binary);
  EXPECT_EQ(find_rpc_worker_binary(std::nullopt, with_variable, configured), env_binary);
  EXPECT_EQ(find_rpc_worker_binary(std::nullopt, without_variable, configured), configured);
  EXPECT_EQ(find_rpc_worker_binary(std::nullopt, without_variable, std::nullopt), on_path);
}

TEST_F(ServerBinaryTest, NoRpcWorkerAnywhereSaysHowToInstallOne) {
  const auto configured = root_ / "deps/bin/ggml-rpc-server";
  const auto message = start_failure([&] {
    find_rpc_worker_binary(std::nullopt, env_of({{"PATH", (root_ / "empty").string()}}), configured);
  });
  EXPECT_THAT(message, AllOf(HasSubstr("no usable ggml-rpc-server"), HasSubstr("--worker-path not set"),
                             HasSubstr("GGML_RPC_SERVER_PATH not set"),
                             HasSubstr("configured default " + configured.string() + " does not exist"),
                             HasSubstr("scripts/install-llama-server-gpu rpc")));
  const auto explicit_missing =
      start_failure([&] { find_rpc_worker_binary(root_ / "nowhere/ggml-rpc-server", env_of({}), std::nullopt); });
  EXPECT_THAT(explicit_missing,
              AllOf(HasSubstr("--worker-path " + (root_ / "nowhere/ggml-rpc-server").string() + " does not exist"),
                    HasSubstr("scripts/install-llama-server-gpu rpc")));
}

TEST_F(ServerBinaryTest, UnusableEnvironmentPathFailsEvenWhenTheConfiguredDefaultIsUsable) {
  const auto configured = executable("deps/bin/llama-server");
  const auto missing = root_ / "nowhere/llama-server";
  const auto message = start_failure([&] {
    find_server_binary(std::nullopt, env_of({{"LLAMA_SERVER_PATH", missing.string()}}), configured);
  });
  EXPECT_THAT(message, HasSubstr("LLAMA_SERVER_PATH " + missing.string() + " does not exist"));
}

TEST_F(ServerBinaryTest, MissingExplicitPathFailsEvenWhenPathHasOne) {
  executable("bin/llama-server");
  const auto missing = root_ / "nowhere/llama-server";
  const auto message = start_failure([&] {
    find_server_binary(missing, env_of({{"PATH", (root_ / "bin").string()}}));
  });
  EXPECT_THAT(message, HasSubstr("server_path " + missing.string() + " does not exist"));
}

TEST_F(ServerBinaryTest, ExplicitDirectoryIsRejected) {
  fs::create_directories(root_ / "a-directory");
  const auto message = start_failure([&] { find_server_binary(root_ / "a-directory", env_of({})); });
  EXPECT_THAT(message, HasSubstr((root_ / "a-directory").string() + " is a directory"));
}

TEST_F(ServerBinaryTest, NonExecutableEnvironmentPathIsRejected) {
  const auto file = write_file("plain", "data", fs::perms::owner_read | fs::perms::owner_write);
  const auto message = start_failure([&] {
    find_server_binary(std::nullopt, env_of({{"LLAMA_SERVER_PATH", file.string()}}));
  });
  EXPECT_THAT(message, HasSubstr("LLAMA_SERVER_PATH " + file.string() + " is not executable"));
}

TEST_F(ServerBinaryTest, DeviceFileIsNotARegularFile) {
  const auto message = start_failure([&] { find_server_binary("/dev/null", env_of({})); });
  EXPECT_THAT(message, HasSubstr("/dev/null is not a regular file"));
}

TEST(ServerVersionTest, ParsesUpstreamVersionLineAfterBackendNoise) {
  const auto version = parse_server_version(
      "load_backend: loaded CPU backend from /usr/lib/libggml-cpu.so\n"
      "version: 6641 (0e1f838a)\n"
      "built with cc (Debian 14.2.0) for x86_64-linux-gnu\n");
  ASSERT_TRUE(version);
  EXPECT_EQ(version->build, 6641);
  EXPECT_EQ(version->commit, "0e1f838a");
  EXPECT_EQ(version->version_line, "version: 6641 (0e1f838a)");
  EXPECT_TRUE(version->features.unix_socket);
}

TEST(ServerVersionTest, ParsesDebianVersionLine) {
  const auto version =
      parse_server_version("version: 0.7.0 (build 11669, commit Debian)\nbuilt with GNU 16.2.0 for Linux x86_64\n");
  ASSERT_TRUE(version);
  EXPECT_EQ(version->build, 11669);
  EXPECT_EQ(version->commit, "Debian");
}

TEST(ServerVersionTest, OutputWithoutVersionLineIsNotAVersion) {
  EXPECT_FALSE(parse_server_version("usage: llama-server [options]\n"));
  EXPECT_FALSE(parse_server_version("version: banana\n"));
  EXPECT_FALSE(parse_server_version(""));
}

TEST(ServerVersionTest, OldBuildsLackNewerFeaturesAndUnknownBuildsHaveAll) {
  const auto old = features_for_build(3000);
  EXPECT_FALSE(old.unix_socket);
  EXPECT_FALSE(old.no_webui);
  EXPECT_FALSE(old.offline);
  const auto current = features_for_build(kFirstBuildWithUnixSocket);
  EXPECT_TRUE(current.unix_socket);
  EXPECT_TRUE(current.no_webui);
  EXPECT_TRUE(current.offline);
  EXPECT_TRUE(features_for_build(0).unix_socket);
}

TEST_F(ServerBinaryTest, ProbeRunsTheBinaryWithVersionFlag) {
  const auto fake = executable("fake-server", R"sh(#!/bin/sh
[ "$1" = "--version" ] || exit 9
echo "load_backend: loaded CPU backend" >&2
echo "version: 7001 (abcdef12)" >&2
)sh");
  const auto version = probe(fake);
  EXPECT_EQ(version.build, 7001);
  EXPECT_EQ(version.commit, "abcdef12");
  EXPECT_TRUE(no_children_left());
}

// A binary that floods its output keeps at most kVersionProbeOutputLimit bytes in memory, is
// drained to the end (it never blocks on a full pipe) and is reaped.
TEST_F(ServerBinaryTest, ProbeOfAFloodingBinaryKeepsOnlyTheBoundedOutput) {
  const auto flood = executable("flood", R"sh(#!/bin/sh
echo "version: 7001 (abcdef12)" >&2
head -c 10000000 /dev/zero | tr '\0' 'x'
exit 3
)sh");
  const auto message = start_failure([&] { probe(flood); });
  EXPECT_THAT(message, HasSubstr("exited with status 3"));
  EXPECT_LT(message.size(), kVersionProbeOutputLimit + 4096) << "the error quotes more than the bound";
  EXPECT_TRUE(no_children_left());
}

TEST_F(ServerBinaryTest, ProbeFailureQuotesTheStatusAndLastOutput) {
  const auto fake = executable("crashing", "#!/bin/sh\necho 'libggml.so: cannot open' >&2\nexit 3\n");
  const auto message = start_failure([&] { probe(fake); });
  const std::string one_line = message.substr(0, message.find('\n'));
  EXPECT_THAT(one_line, AllOf(HasSubstr(fake.string()), HasSubstr("exited with status 3")));
  EXPECT_THAT(message.substr(one_line.size()), HasSubstr("libggml.so: cannot open")) << "the detail";
  EXPECT_TRUE(no_children_left());
}

TEST_F(ServerBinaryTest, ProbeWithoutVersionLineFails) {
  const auto fake = executable("quiet", "#!/bin/sh\necho hello\n");
  EXPECT_THAT(start_failure([&] { probe(fake); }), HasSubstr("printed no version line"));
}

TEST_F(ServerBinaryTest, HangingProbeIsKilledAndReapedAtTheTimeout) {
  const auto pid_file = root_ / "pid";
  const auto fake = executable("hanging", "#!/bin/sh\necho $$ > '" + pid_file.string() + "'\nexec sleep 60\n");
  const auto message = start_failure([&] { probe(fake, std::chrono::milliseconds(300)); });
  EXPECT_THAT(message, HasSubstr("did not finish within 300 ms"));
  std::string pid;
  std::ifstream(pid_file) >> pid;
  ASSERT_FALSE(pid.empty());
  EXPECT_FALSE(fs::exists("/proc/" + pid)) << "probe child " << pid << " still exists";
  EXPECT_TRUE(no_children_left());
}

TEST_F(ServerBinaryTest, UnexecutableFormatFailsToStartWithoutLeavingAZombie) {
  const auto garbage = write_file("garbage",
                                  "\x7f"
                                  "ELF-not-really",
                                  fs::perms::owner_all);
  const auto message = start_failure([&] { probe(garbage); });
  EXPECT_THAT(message, HasSubstr("cannot start " + garbage.string()));
  EXPECT_TRUE(no_children_left());
}

}  // namespace
}  // namespace inference::llama_server

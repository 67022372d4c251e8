// The Registry: which backend is the default, explicit choices, unavailable backends with their
// reasons, the plugin search path and scanning directories.
#include "inference/registry.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <functional>
#include <optional>

#include "plugin_test_support.hpp"

namespace inference {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using test::TempDir;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class FakeModel final : public TextModel {
 public:
  explicit FakeModel(std::string backend) : backend_(std::move(backend)) {}
  TokenStream generate(std::string, GenerateConfig) override { return {}; }
  TokenStream chat(std::vector<Message>, GenerateConfig) override { return {}; }
  ModelInfo info() const override { return {}; }
  std::string model_type() const override { return backend_; }  // tells the test who loaded it
  ModelStats stats() const override { return {}; }
  asio::awaitable<void> close() override { co_return; }

 private:
  std::string backend_;
};

class FakeBackend final : public Backend {
 public:
  FakeBackend(std::string name, Availability availability, int priority)
      : name_(std::move(name)), availability_(std::move(availability)), priority_(priority) {}
  std::string name() const override { return name_; }
  int priority() const override { return priority_; }
  Availability available() const override { return availability_; }
  asio::awaitable<std::shared_ptr<TextModel>> load_model(std::string, LoadOptions) override {
    co_return std::make_shared<FakeModel>(name_);
  }

 private:
  std::string name_;
  Availability availability_;
  int priority_;
};

// Like a backend that runs a server: not available as the system is configured (no server binary
// on PATH), available once a backend option names one.
class NeedsServerPathBackend final : public Backend {
 public:
  explicit NeedsServerPathBackend(std::string name) : name_(std::move(name)) {}
  std::string name() const override { return name_; }
  Availability available() const override { return Availability::no("server_path not set; no server on PATH"); }
  Availability available_with(const LoadOptions& options) const override {
    return options.backend_options.count("server_path") == 0 ? available() : Availability::yes();
  }
  asio::awaitable<std::shared_ptr<TextModel>> load_model(std::string, LoadOptions) override {
    co_return std::make_shared<FakeModel>(name_);
  }

 private:
  std::string name_;
};

LoadOptions with_server_path() {
  LoadOptions options;
  options.backend_options["server_path"] = "/opt/llama/bin/llama-server";
  return options;
}

// Priorities like those the real plugins declare: a GPU build above a generic build above any
// other backend; the stub only when named.
constexpr int kGpuBuild = 200;
constexpr int kGenericBuild = 100;

void add(Registry& registry, std::string name, Availability availability, int priority = kDefaultBackendPriority) {
  registry.add(std::make_shared<FakeBackend>(std::move(name), std::move(availability), priority));
}

Error error_of(const std::function<void()>& call) {
  try {
    call();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no error thrown";
  return Error(errc::internal_error, "no error");
}

std::shared_ptr<TextModel> load(Registry& registry, std::string backend) {
  asio::io_context io;
  return test::run(io, registry.load_model("model.gguf", {}, std::move(backend)));
}

// ---------------------------------------------------------------- registering and listing

TEST(Registry, ListsBackendsByNameWithAvailability) {
  Registry registry;
  add(registry, "zeta", Availability::yes());
  add(registry, "alpha", Availability::no("missing driver"), kGenericBuild);
  const auto entries = registry.list();
  ASSERT_EQ(entries.size(), 2U);
  EXPECT_EQ(entries[0].name, "alpha");
  EXPECT_FALSE(entries[0].availability.available);
  EXPECT_EQ(entries[0].availability.reason, "missing driver");
  EXPECT_EQ(entries[0].plugin_file, "");
  EXPECT_EQ(entries[0].priority, kGenericBuild);
  EXPECT_EQ(entries[1].name, "zeta");
  EXPECT_TRUE(entries[1].availability.available);
}

TEST(Registry, AddingATakenNameFailsWithDuplicateBackend) {
  Registry registry;
  add(registry, "stub", Availability::yes());
  const Error error = error_of([&] { add(registry, "stub", Availability::yes()); });
  EXPECT_TRUE(error.is(errc::duplicate_backend));
  EXPECT_THAT(error.what(), HasSubstr("'stub'"));
}

TEST(Registry, GetUnknownNameFailsWithNotRegistered) {
  Registry registry;
  EXPECT_EQ(registry.find("rocm"), nullptr);
  const Error error = error_of([&] { registry.get("rocm"); });
  EXPECT_TRUE(error.is(errc::not_registered));
  EXPECT_THAT(error.what(), HasSubstr("rocm"));
}

// ---------------------------------------------------------------- default backend

TEST(Registry, DefaultIsTheAvailableBackendWithTheHighestPriority) {
  Registry registry;
  add(registry, "llama_cpp", Availability::yes(), kGenericBuild);
  add(registry, "rocm", Availability::yes(), kGpuBuild);
  add(registry, "alpha", Availability::yes());
  EXPECT_EQ(registry.default_backend()->name(), "rocm");
}

TEST(Registry, DefaultIsTheNextPriorityWhenTheHighestIsUnavailable) {
  Registry registry;
  add(registry, "alpha", Availability::yes());
  add(registry, "rocm", Availability::no("no AMD GPU found"), kGpuBuild);
  add(registry, "llama_cpp", Availability::yes(), kGenericBuild);
  EXPECT_EQ(registry.default_backend()->name(), "llama_cpp");
}

TEST(Registry, DefaultAmongEqualPrioritiesIsTheFirstByNameNeverOneUsedOnlyWhenNamed) {
  Registry registry;
  add(registry, "stub", Availability::yes(), kPriorityOnlyWhenNamed);
  add(registry, "aardvark", Availability::yes(), kPriorityOnlyWhenNamed);
  add(registry, "rocm", Availability::no("no AMD GPU found"), kGpuBuild);
  add(registry, "gamma", Availability::yes());
  add(registry, "beta", Availability::yes());
  add(registry, "alpha", Availability::no("not today"));
  EXPECT_EQ(registry.default_backend()->name(), "beta");
}

TEST(Registry, DefaultFailsWithEveryReasonWhenOnlyABackendUsedOnlyWhenNamedIsAvailable) {
  Registry registry;
  add(registry, "rocm", Availability::no("no AMD GPU found"), kGpuBuild);
  add(registry, "llama_cpp", Availability::no("llama-server not found"), kGenericBuild);
  add(registry, "stub", Availability::yes(), kPriorityOnlyWhenNamed);
  const Error error = error_of([&] { registry.default_backend(); });
  EXPECT_TRUE(error.is(errc::backend_unavailable));
  EXPECT_THAT(error.what(),
              AllOf(HasSubstr("llama_cpp: llama-server not found; "), HasSubstr("rocm: no AMD GPU found; "),
                    HasSubstr("stub: used only when named explicitly")));
}

TEST(Registry, DefaultFailsWhenNothingIsRegistered) {
  Registry registry;
  EXPECT_TRUE(error_of([&] { registry.default_backend(); }).is(errc::backend_unavailable));
}

// ---------------------------------------------------------------- load_model

TEST(Registry, LoadModelUsesTheDefaultBackend) {
  Registry registry;
  add(registry, "rocm", Availability::no("no AMD GPU found"), kGpuBuild);
  add(registry, "llama_cpp", Availability::yes(), kGenericBuild);
  add(registry, "stub", Availability::yes(), kPriorityOnlyWhenNamed);
  EXPECT_EQ(load(registry, "")->model_type(), "llama_cpp");
}

TEST(Registry, LoadModelHonoursAnExplicitBackend) {
  Registry registry;
  add(registry, "llama_cpp", Availability::yes(), kGenericBuild);
  add(registry, "stub", Availability::yes(), kPriorityOnlyWhenNamed);
  EXPECT_EQ(load(registry, "stub")->model_type(), "stub");
}

TEST(Registry, LoadModelWithUnknownBackendFailsWithNotRegistered) {
  Registry registry;
  add(registry, "stub", Availability::yes());
  const Error error = error_of([&] { load(registry, "vulkan"); });
  EXPECT_TRUE(error.is(errc::not_registered));
  EXPECT_THAT(error.what(), HasSubstr("vulkan"));
}

TEST(Registry, LoadModelWithUnavailableBackendGivesItsReason) {
  Registry registry;
  add(registry, "rocm", Availability::no("no AMD GPU found"));
  const Error error = error_of([&] { load(registry, "rocm"); });
  EXPECT_TRUE(error.is(errc::backend_unavailable));
  EXPECT_EQ(error.context(), "rocm: no AMD GPU found");
}

TEST(Registry, LoadModelCountsWhatTheOptionsSupply) {
  Registry registry;
  registry.add(std::make_shared<NeedsServerPathBackend>("llama_cpp"));
  asio::io_context io;
  EXPECT_EQ(test::run(io, registry.load_model("model.gguf", with_server_path(), "llama_cpp"))->model_type(),
            "llama_cpp");
  EXPECT_EQ(test::run(io, registry.load_model("model.gguf", with_server_path()))->model_type(), "llama_cpp")
      << "the default backend is chosen with the options too";
  EXPECT_TRUE(error_of([&] { load(registry, "llama_cpp"); }).is(errc::backend_unavailable))
      << "without the option nothing changed";
}

TEST(Registry, DefaultPreflightAndDefaultBackendJudgeWithTheOptions) {
  Registry registry;
  registry.add(std::make_shared<NeedsServerPathBackend>("llama_cpp"));
  const auto backend = registry.get("llama_cpp");
  EXPECT_TRUE(backend->preflight("model.gguf", with_server_path()).available);
  EXPECT_FALSE(backend->preflight("model.gguf", LoadOptions()).available);
  EXPECT_EQ(registry.default_backend(with_server_path()), backend);
  EXPECT_TRUE(error_of([&] { registry.default_backend(); }).is(errc::backend_unavailable));
}

// ---------------------------------------------------------------- plugin search path

// Sets an environment variable for one test and restores it afterwards.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    setenv(name, value.c_str(), 1);
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(PluginDirectories, ExplicitThenEnvironmentSkippingMissingEmptyAndDuplicates) {
  const TempDir root;
  const auto a = root.path() / "a";
  const auto b = root.path() / "b";
  const auto c = root.path() / "c";
  for (const auto& dir : {a, b, c}) fs::create_directory(dir);
  const ScopedEnv env("INFERENCE_PLUGIN_PATH",
                      c.string() + "::" + (root.path() / "missing").string() + ":" + (b / ".." / "a").string() + ":");
  PluginSearch search;
  search.directories = {b, a};
  search.use_default = false;
  EXPECT_THAT(plugin_directories(search), ElementsAre(fs::canonical(b), fs::canonical(a), fs::canonical(c)));

  search.use_environment = false;
  EXPECT_THAT(plugin_directories(search), ElementsAre(fs::canonical(b), fs::canonical(a)));
}

TEST(PluginDirectories, DefaultsAreNextToTheExecutable) {
  const fs::path bin = fs::read_symlink("/proc/self/exe").parent_path();
  std::vector<fs::path> expected;
  for (const auto* relative : {"../plugins", "../lib/inference/plugins"}) {
    if (fs::is_directory(bin / relative)) expected.push_back(fs::canonical(bin / relative));
  }
  PluginSearch search;
  search.use_environment = false;
  EXPECT_EQ(plugin_directories(search), expected);
}

// ---------------------------------------------------------------- scanning directories

TEST(RegistryLoadPlugins, ReportsBadFilesAndLoadsTheRest) {
  const TempDir dir;
  const auto good = dir.copy(test::good_plugin());
  const auto fake = dir.write("libbackend_fake.so", "not a shared object\n");
  dir.write("README.txt", "ignored: not a plugin name\n");
  PluginSearch search;
  search.directories = {dir.path()};
  search.use_environment = false;
  search.use_default = false;

  Registry registry;
  const auto failures = registry.load_plugins(search);
  ASSERT_EQ(failures.size(), 1U);
  EXPECT_EQ(failures[0].file, fake);
  EXPECT_EQ(failures[0].code, make_error_code(errc::plugin_load_failed));
  EXPECT_THAT(failures[0].message, HasSubstr(fake.string()));
  ASSERT_EQ(registry.list().size(), 1U);
  EXPECT_EQ(registry.list()[0].plugin_file, good.string());
}

TEST(RegistryLoadPlugins, EarlierDirectoryWinsAndLaterCopyIsNotOpened) {
  const TempDir dir;
  const auto first = dir.copy(test::good_plugin());
  PluginSearch search;
  search.directories = {dir.path(), test::good_plugin().parent_path()};
  search.use_environment = false;
  search.use_default = false;

  Registry registry;
  EXPECT_TRUE(registry.load_plugins(search).empty());
  EXPECT_EQ(registry.list().at(0).plugin_file, first.string());
  EXPECT_FALSE(test::is_loaded(test::good_plugin()));
}

TEST(RegistryLoadPlugins, SearchPathFromEnvironmentIsUsed) {
  const ScopedEnv env("INFERENCE_PLUGIN_PATH", test::good_plugin().parent_path().string());
  PluginSearch search;
  search.use_default = false;
  Registry registry;
  EXPECT_TRUE(registry.load_plugins(search).empty());
  EXPECT_NE(registry.find("testgood"), nullptr);
}

TEST(RegistryLoadPlugins, BackendNameClashAcrossFilesIsReported) {
  PluginSearch search;
  search.directories = {test::good_plugin().parent_path(),
                        test::test_plugin("duplicate", "testduplicate").parent_path()};
  search.use_environment = false;
  search.use_default = false;
  Registry registry;
  const auto failures = registry.load_plugins(search);
  ASSERT_EQ(failures.size(), 1U);
  EXPECT_EQ(failures[0].code, make_error_code(errc::duplicate_backend));
  EXPECT_EQ(failures[0].file, fs::canonical(test::test_plugin("duplicate", "testduplicate")));
}

}  // namespace
}  // namespace inference

// Loading one plugin file: every failure cause has its code and names the file; nothing in a
// plugin runs before its ABI version and build tag are checked.
#include "plugin_library.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <dlfcn.h>

#include <functional>

#include "inference/error.hpp"
#include "inference/registry.hpp"
#include "plugin_test_support.hpp"

namespace inference {
namespace {

namespace fs = std::filesystem;
using test::is_loaded;
using test::TempDir;
using test::test_plugin;
using ::testing::AllOf;
using ::testing::HasSubstr;

// The Error `load` throws; fails the test when it throws nothing.
Error load_error(const std::function<void()>& load) {
  try {
    load();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "loading succeeded";
  return Error(errc::internal_error, "no error");
}

Error open_error(const fs::path& file) {
  return load_error([&] { PluginLibrary::open(file); });
}

TEST(PluginNameFromFilename, TakesTheNameBetweenPrefixAndSuffix) {
  EXPECT_EQ(plugin_name_from_filename("libbackend_stub.so"), "stub");
  EXPECT_EQ(plugin_name_from_filename("libbackend_llama_cpp.so"), "llama_cpp");
}

TEST(PluginNameFromFilename, RejectsOtherFileNames) {
  EXPECT_EQ(plugin_name_from_filename("libbackend_.so"), std::nullopt);
  EXPECT_EQ(plugin_name_from_filename("libinference.so"), std::nullopt);
  EXPECT_EQ(plugin_name_from_filename("libbackend_stub.so.1"), std::nullopt);
  EXPECT_EQ(plugin_name_from_filename("backend_stub.so"), std::nullopt);
  EXPECT_EQ(plugin_name_from_filename(""), std::nullopt);
}

TEST(PluginLibrary, MissingFileFailsNamingTheFile) {
  const TempDir dir;
  const auto file = dir.path() / "libbackend_missing.so";
  const Error error = open_error(file);
  EXPECT_TRUE(error.is(errc::plugin_load_failed));
  EXPECT_THAT(error.what(), AllOf(HasSubstr(file.string()), HasSubstr("file not found")));
}

TEST(PluginLibrary, DirectoryIsNotARegularFile) {
  const TempDir dir;
  const auto file = dir.path() / "libbackend_dir.so";
  fs::create_directory(file);
  const Error error = open_error(file);
  EXPECT_TRUE(error.is(errc::plugin_load_failed));
  EXPECT_THAT(error.what(), AllOf(HasSubstr(file.string()), HasSubstr("not a regular file")));
}

TEST(PluginLibrary, TextFileIsNotASharedObject) {
  const TempDir dir;
  const auto file = dir.write("libbackend_fake.so", "this is not an ELF file\n");
  const Error error = open_error(file);
  EXPECT_TRUE(error.is(errc::plugin_load_failed));
  EXPECT_THAT(error.what(), AllOf(HasSubstr(file.string()), HasSubstr("not a loadable shared object")));
}

TEST(PluginLibrary, SharedObjectWithoutDescriptorIsRefusedAndUnloaded) {
  const auto file = test_plugin("nosymbol", "testnosymbol");
  const Error error = open_error(file);
  EXPECT_TRUE(error.is(errc::plugin_load_failed));
  EXPECT_THAT(error.what(), AllOf(HasSubstr(file.string()), HasSubstr("missing symbol inference_plugin_v1")));
  EXPECT_FALSE(is_loaded(file));
}

TEST(PluginLibrary, OtherAbiVersionIsRefusedBeforeRegistration) {
  // The plugin's register_backends() aborts: reaching it would end the test run.
  const auto file = test_plugin("abi", "testabi");
  Registry registry;
  const Error error = load_error([&] { registry.load_plugin(file); });
  EXPECT_TRUE(error.is(errc::plugin_abi_mismatch));
  EXPECT_THAT(error.what(), AllOf(HasSubstr(file.string()), HasSubstr("plugin ABI version 999"),
                                  HasSubstr("needs " + std::to_string(kPluginAbiVersion))));
  EXPECT_FALSE(is_loaded(file));
  EXPECT_TRUE(registry.list().empty());
}

TEST(PluginLibrary, OtherBuildTagIsRefusedBeforeRegistration) {
  const auto file = test_plugin("tag", "testtag");
  Registry registry;
  const Error error = load_error([&] { registry.load_plugin(file); });
  EXPECT_TRUE(error.is(errc::plugin_abi_mismatch));
  EXPECT_THAT(error.what(), AllOf(HasSubstr(file.string()), HasSubstr("gcc-1;libstdc++-1;boost-100000"),
                                  HasSubstr(INFERENCE_BUILD_TAG)));
  EXPECT_FALSE(is_loaded(file));
}

TEST(PluginLibrary, ThrowingRegistrationFailsAndRegistersNothing) {
  const auto file = test_plugin("throws", "testthrows");
  Registry registry;
  const Error error = load_error([&] { registry.load_plugin(file); });
  EXPECT_TRUE(error.is(errc::plugin_load_failed));
  EXPECT_THAT(error.what(), AllOf(HasSubstr(file.string()), HasSubstr("registration threw: no device for testthrows")));
  EXPECT_EQ(registry.find("testthrows"), nullptr);
  // The backend it added before throwing is gone, and with it the library.
  EXPECT_FALSE(is_loaded(file));
}

TEST(PluginLibrary, DuplicateBackendNameFailsNamingBothFiles) {
  const auto duplicate = test_plugin("duplicate", "testduplicate");
  Registry registry;
  registry.load_plugin(test::good_plugin());
  const Error error = load_error([&] { registry.load_plugin(duplicate); });
  EXPECT_TRUE(error.is(errc::duplicate_backend));
  EXPECT_THAT(error.what(),
              AllOf(HasSubstr(duplicate.string()), HasSubstr("'testgood'"), HasSubstr(test::good_plugin().string())));
  EXPECT_EQ(registry.list().at(0).plugin_file, test::good_plugin().string());
  EXPECT_FALSE(is_loaded(duplicate));
}

TEST(PluginLibrary, WorldWritableFileIsRefusedWithoutLoadingIt) {
  const TempDir dir;
  const auto file = dir.copy(test::good_plugin());
  fs::permissions(file, fs::perms::others_write, fs::perm_options::add);
  const Error error = open_error(file);
  EXPECT_TRUE(error.is(errc::plugin_load_failed));
  EXPECT_THAT(error.what(), AllOf(HasSubstr(file.string()), HasSubstr("world-writable")));
  EXPECT_FALSE(is_loaded(file));
}

TEST(PluginLibrary, FileInWorldWritableDirectoryIsRefusedWithoutLoadingIt) {
  const TempDir dir;
  const auto file = dir.copy(test::good_plugin());
  fs::permissions(dir.path(), fs::perms::others_all, fs::perm_options::add);
  const Error error = open_error(file);
  EXPECT_TRUE(error.is(errc::plugin_load_failed));
  EXPECT_THAT(error.what(), AllOf(HasSubstr(file.string()), HasSubstr("directory " + dir.path().string()),
                                  HasSubstr("world-writable")));
  EXPECT_FALSE(is_loaded(file));
}

TEST(PluginLibrary, GoodPluginOpensAndRegistersItsBackend) {
  const auto library = PluginLibrary::open(test::good_plugin());
  EXPECT_EQ(library->file(), test::good_plugin());
  EXPECT_TRUE(is_loaded(test::good_plugin()));
  {
    const auto backends = library->register_backends();
    ASSERT_EQ(backends.size(), 1U);
    EXPECT_EQ(backends[0]->name(), "testgood");
  }
}

// RTLD_LOCAL: a loaded plugin's symbols (its registration entry point first of all) do not join
// the process' global namespace, so they cannot interpose on the host or on other plugins.
TEST(PluginLibrary, APluginsSymbolsStayPrivateToIt) {
  const auto library = PluginLibrary::open(test::good_plugin());
  ASSERT_TRUE(is_loaded(test::good_plugin()));
  EXPECT_EQ(::dlsym(RTLD_DEFAULT, kPluginSymbol), nullptr)
      << kPluginSymbol << " of " << test::good_plugin() << " is visible to every later lookup";
}

}  // namespace
}  // namespace inference

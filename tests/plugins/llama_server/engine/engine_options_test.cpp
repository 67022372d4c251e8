#include "inference/llama_server/engine_options.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "inference/error.hpp"
#include "inference/llama_server/server_binary.hpp"

namespace inference::llama_server {
namespace {

using ::testing::HasSubstr;

Error parse_failure(const std::map<std::string, std::string>& options) {
  try {
    parse_engine_options(options);
  } catch (const Error& error) {
    return error;
  }
  ADD_FAILURE() << "the options were accepted";
  return Error(errc::invalid_argument);
}

TEST(EngineOptionsTest, EmbeddingsPoolingAndRerankingBecomeServerArguments) {
  EXPECT_TRUE(embedding_arguments(parse_engine_options({})).empty());
  const EngineOptions embeddings = parse_engine_options({{"embeddings", "true"}, {"pooling", "cls"}});
  EXPECT_TRUE(embeddings.serves_embeddings());
  EXPECT_EQ(embedding_arguments(embeddings), (std::vector<std::string>{"--embeddings", "--pooling", "cls"}));
  const EngineOptions reranking = parse_engine_options({{"reranking", "1"}});
  EXPECT_TRUE(reranking.serves_embeddings());
  EXPECT_EQ(embedding_arguments(reranking), (std::vector<std::string>{"--reranking"}));
}

TEST(EngineOptionsTest, BadEmbeddingValuesAreRefusedNamingTheKey) {
  EXPECT_THAT(parse_failure({{"embeddings", "yes"}}).what(), HasSubstr("embeddings=yes"));
  EXPECT_THAT(parse_failure({{"reranking", "2"}}).what(), HasSubstr("reranking=2"));
  EXPECT_THAT(parse_failure({{"embeddings", "true"}, {"pooling", "max"}}).what(), HasSubstr("pooling=max"));
  EXPECT_THAT(parse_failure({{"pooling", "mean"}}).what(), HasSubstr("pooling=mean needs embeddings=true"));
  EXPECT_THAT(parse_failure({{"reranking", "true"}, {"pooling", "mean"}}).what(), HasSubstr("contradicts reranking"));
}

TEST(EngineOptionsTest, PortIsUnsetByDefaultSoEachLaunchPicksOne) {
  const EngineOptions options = parse_engine_options({});
  EXPECT_EQ(options.port, 0);
  EXPECT_EQ(options.transport, TransportChoice::automatic);
}

TEST(EngineOptionsTest, PortIsParsedAndImpliesTcp) {
  const EngineOptions options = parse_engine_options({{"port", "8080"}});
  EXPECT_EQ(options.port, 8080);
  EXPECT_EQ(options.transport, TransportChoice::tcp);
}

TEST(EngineOptionsTest, PortWithExplicitTcpTransportIsAccepted) {
  const EngineOptions options = parse_engine_options({{"port", "65535"}, {"transport", "tcp"}});
  EXPECT_EQ(options.port, 65535);
  EXPECT_EQ(options.transport, TransportChoice::tcp);
}

TEST(EngineOptionsTest, PortZeroOrAboveTheRangeIsRefusedNamingTheValue) {
  for (const char* value : {"0", "65536", "100000"}) {
    const Error error = parse_failure({{"port", value}});
    EXPECT_TRUE(error.is(errc::invalid_argument)) << error.what();
    EXPECT_THAT(error.what(), HasSubstr(std::string("port=") + value)) << error.what();
  }
}

TEST(EngineOptionsTest, PortThatIsNotANumberIsRefused) {
  const Error error = parse_failure({{"port", "http"}});
  EXPECT_TRUE(error.is(errc::invalid_argument)) << error.what();
  EXPECT_THAT(error.what(), HasSubstr("not a non-negative integer"));
}

TEST(EngineOptionsTest, PortWithUnixTransportIsAContradiction) {
  const Error error = parse_failure({{"port", "8080"}, {"transport", "unix"}});
  EXPECT_TRUE(error.is(errc::invalid_argument)) << error.what();
  EXPECT_THAT(error.what(), HasSubstr("needs transport=tcp"));
}

TEST(EngineOptionsTest, ServerArgsAreOnePerLineAndMayHoldSpaces) {
  EXPECT_TRUE(parse_engine_options({}).server_args.empty());
  EXPECT_TRUE(parse_engine_options({{"server_args", ""}}).server_args.empty());
  const std::string value = engine_option::server_args_value({"-t", "1", "--alias", "two words", ""});
  EXPECT_EQ(value, "-t\n1\n--alias\ntwo words\n");
  EXPECT_THAT(parse_engine_options({{"server_args", value}}).server_args,
              ::testing::ElementsAre("-t", "1", "--alias", "two words", ""));
}

TEST(EngineOptionsTest, ServerPathIsAKnownKeyReadByTheBinarySearch) {
  LoadOptions options;
  EXPECT_FALSE(explicit_server_path(options).has_value());
  options.backend_options["server_path"] = "/opt/llama/bin/llama-server";
  EXPECT_NO_THROW(parse_engine_options(options.backend_options));
  EXPECT_EQ(explicit_server_path(options), std::filesystem::path("/opt/llama/bin/llama-server"));
  options.backend_options["server_path"] = "";
  EXPECT_FALSE(explicit_server_path(options).has_value()) << "empty means: search";
}

TEST(EngineOptionsTest, UnknownKeyIsRefusedAndTheListNamesPort) {
  const Error error = parse_failure({{"prot", "8080"}});
  EXPECT_TRUE(error.is(errc::invalid_argument)) << error.what();
  EXPECT_THAT(error.what(), HasSubstr("port"));
}

TEST(EngineOptionsTest, ReplicasDefaultToOneAndAreParsed) {
  EXPECT_EQ(parse_engine_options({}).replicas, engine_option::kDefaultReplicas);
  EXPECT_EQ(parse_engine_options({{"replicas", "1"}}).replicas, 1U);
  EXPECT_EQ(parse_engine_options({{"replicas", "3"}}).replicas, 3U);
  EXPECT_EQ(parse_engine_options({{"replicas", std::to_string(engine_option::kMaxReplicas)}}).replicas,
            engine_option::kMaxReplicas);
}

TEST(EngineOptionsTest, ReplicasOutsideOneToTheMaximumAreRefusedNamingTheKeyAndTheRange) {
  const std::string too_many = std::to_string(engine_option::kMaxReplicas + 1);
  for (const std::string& value : {std::string("0"), too_many, std::string("99999999999")}) {
    const Error error = parse_failure({{"replicas", value}});
    EXPECT_TRUE(error.is(errc::invalid_argument)) << error.what();
    EXPECT_THAT(error.what(), HasSubstr("replicas=" + value)) << error.what();
    EXPECT_THAT(error.what(), HasSubstr("expected 1 to " + std::to_string(engine_option::kMaxReplicas)));
  }
}

TEST(EngineOptionsTest, ReplicasThatAreNotANumberAreRefusedNamingTheKey) {
  for (const char* value : {"two", "", "-1", "2 ", "1.5"}) {
    const Error error = parse_failure({{"replicas", value}});
    EXPECT_TRUE(error.is(errc::invalid_argument)) << error.what();
    EXPECT_THAT(error.what(), HasSubstr(std::string("replicas=") + value)) << error.what();
  }
}

TEST(EngineOptionsTest, HostMemoryMibIsUnsetByDefaultAndParsed) {
  EXPECT_EQ(parse_engine_options({}).host_memory_mib, 0U);
  EXPECT_EQ(parse_engine_options({{"host_memory_mib", "4096"}}).host_memory_mib, 4096U);
}

TEST(EngineOptionsTest, HostMemoryMibThatIsZeroTooLargeOrNotANumberIsRefusedNamingTheKey) {
  const std::string too_large = std::to_string(engine_option::kMaxHostMemoryMib + 1);
  for (const std::string& value :
       {std::string("0"), too_large, std::string("4G"), std::string(""), std::string("-1")}) {
    const Error error = parse_failure({{"host_memory_mib", value}});
    EXPECT_TRUE(error.is(errc::invalid_argument)) << error.what();
    EXPECT_THAT(error.what(), HasSubstr("host_memory_mib=" + value)) << error.what();
  }
}

// Each replica is its own server and needs its own port: a fixed one can serve only one.
TEST(EngineOptionsTest, FixedPortWithSeveralReplicasIsRefusedNamingBoth) {
  const Error error = parse_failure({{"port", "8080"}, {"replicas", "2"}});
  EXPECT_TRUE(error.is(errc::invalid_argument)) << error.what();
  EXPECT_THAT(error.what(), HasSubstr("port=8080"));
  EXPECT_THAT(error.what(), HasSubstr("2 replicas"));
  const EngineOptions one = parse_engine_options({{"port", "8080"}, {"replicas", "1"}});
  EXPECT_EQ(one.port, 8080);
  EXPECT_EQ(one.replicas, 1U);
}

TEST(EngineOptionsTest, ReplicasIsAKnownKeyListedWithTheOthers) {
  const Error error = parse_failure({{"replica", "2"}});
  EXPECT_THAT(error.what(), HasSubstr("replica: unknown"));
  EXPECT_THAT(error.what(), HasSubstr("replicas"));
}

}  // namespace
}  // namespace inference::llama_server

// The openai backend (a remote OpenAI-compatible server) and its plugin registration.
#include <boost/asio/this_coro.hpp>

#include "inference/backend.hpp"
#include "inference/error.hpp"
#include "inference/openai/openai_model.hpp"
#include "inference/openai/remote_options.hpp"
#include "inference/openai/tls_context.hpp"
#include "inference/plugin_abi.hpp"

namespace inference::openai {

namespace asio = boost::asio;

namespace {

std::shared_ptr<const RemoteEndpoint> make_endpoint(const RemoteOptions& options) {
  auto endpoint = std::make_shared<RemoteEndpoint>();
  endpoint->url = options.url;
  if (!options.api_key.empty()) endpoint->authorization = "Bearer " + options.api_key;
  endpoint->connect_timeout = options.connect_timeout;
  endpoint->read_timeout = options.read_timeout;
  if (options.url.tls) {
    endpoint->tls = make_tls_context(options.ca_file);
  } else if (!options.ca_file.empty()) {
    throw Error(errc::invalid_argument, "openai backend option ca_file=" + options.ca_file +
                                            ": only for an https:// base_url (this one is " + options.url.origin() +
                                            ")");
  }
  return endpoint;
}

}  // namespace

class OpenAiBackend final : public Backend {
 public:
  std::string name() const override { return "openai"; }
  // It needs a base_url to mean anything: never a host's default, only used when named.
  int priority() const override { return kPriorityOnlyWhenNamed; }
  Availability available() const override { return Availability::yes(); }

  // Nothing is sent at load: the first request finds out whether the server answers and accepts
  // the key (a remote may come and go; a load should not depend on it being up right now).
  asio::awaitable<std::shared_ptr<TextModel>> load_model(std::string path, LoadOptions options) override {
    RemoteOptions remote = parse_remote_options(path, options);
    std::shared_ptr<const RemoteEndpoint> endpoint = make_endpoint(remote);
    auto executor = co_await asio::this_coro::executor;
    co_return std::make_shared<OpenAiModel>(executor, std::move(remote), std::move(endpoint),
                                            options.stream_buffer_tokens);
  }
};

namespace {
void register_backends(PluginRegistrar& registrar) { registrar.add(std::make_shared<OpenAiBackend>()); }
}  // namespace

}  // namespace inference::openai

INFERENCE_PLUGIN(inference::openai::register_backends)

// libbackend_testthrows.so: registration throws after adding a backend.
#include <stdexcept>

#include "inference/backend.hpp"
#include "inference/plugin_abi.hpp"

namespace {

class UnusedBackend final : public inference::Backend {
 public:
  std::string name() const override { return "testthrows"; }
  inference::Availability available() const override { return inference::Availability::yes(); }
  boost::asio::awaitable<std::shared_ptr<inference::TextModel>> load_model(std::string,
                                                                           inference::LoadOptions) override {
    co_return nullptr;
  }
};

void register_backends(inference::PluginRegistrar& registrar) {
  registrar.add(std::make_shared<UnusedBackend>());
  throw std::runtime_error("no device for testthrows");
}

}  // namespace

INFERENCE_PLUGIN(register_backends)

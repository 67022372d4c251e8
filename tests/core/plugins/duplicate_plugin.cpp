// libbackend_testduplicate.so: registers a backend named like the one in libbackend_testgood.so.
#include "inference/backend.hpp"
#include "inference/plugin_abi.hpp"

namespace {

class ImpostorBackend final : public inference::Backend {
 public:
  std::string name() const override { return "testgood"; }
  inference::Availability available() const override { return inference::Availability::yes(); }
  boost::asio::awaitable<std::shared_ptr<inference::TextModel>> load_model(std::string,
                                                                           inference::LoadOptions) override {
    co_return nullptr;
  }
};

void register_backends(inference::PluginRegistrar& registrar) { registrar.add(std::make_shared<ImpostorBackend>()); }

}  // namespace

INFERENCE_PLUGIN(register_backends)

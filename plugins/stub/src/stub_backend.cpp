// The stub backend and its plugin registration.
#include <boost/asio/this_coro.hpp>

#include "inference/backend.hpp"
#include "inference/plugin_abi.hpp"
#include "stub_model.hpp"

namespace inference::stub {

namespace asio = boost::asio;

class StubBackend final : public Backend {
 public:
  std::string name() const override { return "stub"; }
  // A fake: never a host's default, only loaded when asked for by name.
  int priority() const override { return kPriorityOnlyWhenNamed; }
  Availability available() const override { return Availability::yes(); }

  asio::awaitable<std::shared_ptr<TextModel>> load_model(std::string path, LoadOptions options) override {
    const StubOptions stub = parse_stub_options(options.backend_options);
    if (stub.fail_load) throw Error(*stub.fail_load, "stub load of '" + path + "' (fail_load)", stub.fail_detail);
    if (options.parallel_slots == 0) throw Error(errc::invalid_argument, "parallel_slots must be at least 1");
    auto executor = co_await asio::this_coro::executor;
    co_return std::make_shared<StubModel>(executor, std::move(path), std::move(options), stub);
  }
};

namespace {
void register_backends(PluginRegistrar& registrar) { registrar.add(std::make_shared<StubBackend>()); }
}  // namespace

}  // namespace inference::stub

INFERENCE_PLUGIN(inference::stub::register_backends)

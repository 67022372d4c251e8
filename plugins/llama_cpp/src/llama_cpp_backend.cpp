// The vendor-neutral llama-server backend: runs whatever llama-server build is found (CPU,
// CUDA, Vulkan, ROCm) through the shared engine, with no device handling of its own.
#include <boost/asio/this_coro.hpp>

#include "inference/backend.hpp"
#include "inference/error.hpp"
#include "inference/llama_server/llama_server_model.hpp"
#include "inference/llama_server/model_launch.hpp"
#include "inference/llama_server/server_binary.hpp"
#include "inference/plugin_abi.hpp"

namespace inference::llama_cpp {

namespace asio = boost::asio;

// Below a backend made for the machine's hardware (rocm), above backends that declare nothing:
// any llama-server build serves real models.
constexpr int kLlamaCppPriority = 100;

class LlamaCppBackend final : public Backend {
 public:
  std::string name() const override { return "llama_cpp"; }
  int priority() const override { return kLlamaCppPriority; }

  Availability available() const override { return available_with(LoadOptions()); }

  // Available when a llama-server is found: the server_path backend option, LLAMA_SERVER_PATH, PATH;
  // with the rpc option, the RPC build (llama-server-rpc) unless server_path names one.
  Availability available_with(const LoadOptions& options) const override {
    try {
      Availability ready = Availability::yes();
      std::optional<std::filesystem::path> binary = llama_server::explicit_server_path(options);
      if (!binary && options.backend_options.count(std::string(llama_server::engine_option::kRpc.name)) != 0) {
        binary = llama_server::configured_runtime_server_binary("rpc");
        if (!binary)
          return Availability::no(
              "backend option rpc: no llama-server-rpc installed (scripts/install-llama-server-gpu rpc)");
      }
      ready.executable = llama_server::find_server_binary(binary).string();
      return ready;
    } catch (const Error& e) {
      return Availability::no(e.what());
    }
  }

  // The engine's CPU plan without starting anything: the model's metadata and the context that
  // fits the host's memory (or the refusal of one that does not), as the load would decide.
  Availability preflight(const std::string& path, const LoadOptions& options) const override {
    try {
      const llama_server::ModelLaunch launch = llama_server::plain_model_launch(path, options);
      Availability fits = Availability::yes();
      fits.reason = launch.info.serving_device + ": context " + launch.info.serving_context_reason;
      return fits;
    } catch (const Error& e) {
      return Availability::no(e.what());
    }
  }

  asio::awaitable<std::shared_ptr<TextModel>> load_model(std::string path, LoadOptions options) override {
    co_return co_await llama_server::LlamaServerModel::load(std::move(path), std::move(options));
  }
};

namespace {
void register_backends(PluginRegistrar& registrar) { registrar.add(std::make_shared<LlamaCppBackend>()); }
}  // namespace

}  // namespace inference::llama_cpp

INFERENCE_PLUGIN(inference::llama_cpp::register_backends)

// Backend: one way of running models (llama-server on ROCm, on any build, the stub...).
// Backends are registered in a Registry, usually by a plugin. Thread-safety: all member
// functions may be called from any thread.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <string>

#include "inference/load_options.hpp"
#include "inference/text_model.hpp"

namespace inference {

struct Availability {
  bool available = false;
  std::string reason;  // why not, in one line, when unavailable
  // The server binary the backend would run (what its search found), for a backend that runs
  // one as a child process; empty otherwise. Lets a host or `llmctl backends` say which build
  // will serve before anything is loaded.
  std::string executable;

  static Availability yes() { return {true, {}, {}}; }
  static Availability no(std::string why) { return {false, std::move(why), {}}; }
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual std::string name() const = 0;
  // Whether the backend can load models at all, as the system is configured (e.g. a server
  // binary found on PATH). Cheap; may probe the system.
  virtual Availability available() const = 0;
  // The same, given what `options` supply (e.g. LoadOptions::server_path names the server
  // binary that available() would have to find). The Registry asks this before load_model().
  // The default is available().
  virtual Availability available_with(const LoadOptions& options) const;

  // Whether the model at `path` could be loaded with `options`, judged without loading it
  // (e.g. whether it fits the device's free memory). Cheap and side-effect free; the default
  // says only whether the backend is available_with(options). A "no" carries the reason, with
  // the numbers.
  virtual Availability preflight(const std::string& path, const LoadOptions& options) const;

  // Loads a model; the model's work runs on the executor of the awaiting coroutine.
  // Throws inference::Error (model_not_found, invalid_model, child_start_failed, ...).
  virtual boost::asio::awaitable<std::shared_ptr<TextModel>> load_model(std::string path, LoadOptions options) = 0;
};

}  // namespace inference

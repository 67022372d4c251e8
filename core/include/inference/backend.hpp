// Backend: one way of running models (a local inference server on a GPU build, on any build, the
// stub...). Backends are registered in a Registry, usually by a plugin. Thread-safety: all member
// functions may be called from any thread.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "inference/load_options.hpp"
#include "inference/text_model.hpp"

namespace inference {

struct Availability {
  bool available = false;
  std::string reason;  // why not, in one line, when unavailable
  // The program the backend would run as its child process (what its search found), for a
  // backend that runs one; empty otherwise. Lets a host or `llmctl backends` say which build
  // will serve before anything is loaded.
  std::string executable;
  // The devices that executable can use, one line each with its memory ("Vulkan0: llvmpipe
  // (LLVM 21.1.8, 256 bits) (24105 MiB, 23433 MiB free)"); empty for a CPU-only build or a
  // backend without devices. Filled by backends that probe them (rocm, vulkan).
  std::vector<std::string> devices;

  static Availability yes() { return {true, {}, {}, {}}; }
  static Availability no(std::string why) { return {false, std::move(why), {}, {}}; }
};

// Backend::priority() values. The default backend is the available one with the highest
// priority (ties go by name); a backend that declares kPriorityOnlyWhenNamed is never chosen by
// default, only when a host names it.
inline constexpr int kDefaultBackendPriority = 0;
inline constexpr int kPriorityOnlyWhenNamed = std::numeric_limits<int>::min();

class Backend {
 public:
  virtual ~Backend() = default;

  virtual std::string name() const = 0;
  // How strongly Registry::default_backend() prefers this backend (see kDefaultBackendPriority).
  // A constant of the backend: it must not depend on the system, which available() describes.
  virtual int priority() const { return kDefaultBackendPriority; }
  // Whether the backend can load models at all, as the system is configured (e.g. a server
  // binary found on PATH). Cheap; may probe the system.
  virtual Availability available() const = 0;
  // The same, given what `options` supply (e.g. a backend option naming the program that
  // available() would have to find). The Registry asks this before load_model(). The default is
  // available().
  virtual Availability available_with(const LoadOptions& options) const;

  // Whether the model at `path` could be loaded with `options`, judged without loading it
  // (e.g. whether it fits the device's free memory). Cheap and side-effect free; the default
  // says only whether the backend is available_with(options). A "no" carries the reason, with
  // the numbers.
  virtual Availability preflight(const std::string& path, const LoadOptions& options) const;

  // Loads a model; the model's work runs on the executor of the awaiting coroutine.
  // Throws inference::Error (model_not_found, invalid_model, child_start_failed, ...).
  // Cancellation: Asio per-operation cancellation of the awaiting operation abandons the load at
  // its next suspension point (checks that run without suspending, such as reading the model's
  // metadata, finish first). It fails with Error(cancelled), and whatever the load had started
  // (a child process) is stopped and reaped before it does; no model is returned.
  virtual boost::asio::awaitable<std::shared_ptr<TextModel>> load_model(std::string path, LoadOptions options) = 0;
};

}  // namespace inference

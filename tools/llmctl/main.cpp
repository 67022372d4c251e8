// llmctl: list backends, generate, chat, benchmark and inspect GGUF models from the shell.
#include <CLI/CLI.hpp>

#include <exception>

#include "commands.hpp"
#include "diagnostics.hpp"
#include "exit_status.hpp"

int main(int argc, char** argv) {
  using namespace llmctl;

  CLI::App app{"llmctl: drive the inference runtime's backends from the command line"};
  app.name("llmctl");
  app.require_subcommand(1);
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose,
               "On an error, also print its detail (e.g. the inference server's last output lines)");
  app.fallthrough();  // --verbose may follow the subcommand too

  CommandAction action;
  add_backends_command(app, action);
  add_generate_command(app, action);
  add_bench_command(app, action);
  add_info_command(app, action);
  add_models_command(app, action);
  add_make_model_command(app, action);
  add_demo_command(app, action);
  add_serve_command(app, action);
  add_embed_command(app, action);
  add_tokenize_command(app, action);
  add_rpc_worker_command(app, action);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version are "errors" with a success status; CLI11 prints them itself.
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);
    report_error(std::string(e.what()) + " (see llmctl --help)");
    return kExitUsage;
  }

  try {
    return action ? action() : kExitUsage;
  } catch (const inference::Error& e) {
    report_error(e, verbose);
  } catch (const std::exception& e) {
    report_error(e.what());
  }
  return kExitFailure;
}

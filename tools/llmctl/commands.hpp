// The subcommands of llmctl. Each add_<name>_command() registers one subcommand and its flags
// on the application; when the command line selects it, the subcommand stores its work in
// `action`. main() runs that action after parsing, so CLI11 only parses, and every command
// reports its exit status (exit_status.hpp) the same way.
#pragma once

#include <functional>

namespace CLI {
class App;
}

namespace llmctl {

using CommandAction = std::function<int()>;  // returns the exit status; may throw

void add_backends_command(CLI::App& app, CommandAction& action);
void add_generate_command(CLI::App& app, CommandAction& action);  // generate and chat
void add_bench_command(CLI::App& app, CommandAction& action);
void add_info_command(CLI::App& app, CommandAction& action);
void add_models_command(CLI::App& app, CommandAction& action);
void add_make_model_command(CLI::App& app, CommandAction& action);
void add_demo_command(CLI::App& app, CommandAction& action);
void add_serve_command(CLI::App& app, CommandAction& action);
void add_embed_command(CLI::App& app, CommandAction& action);
void add_tokenize_command(CLI::App& app, CommandAction& action);
void add_rpc_worker_command(CLI::App& app, CommandAction& action);

}  // namespace llmctl

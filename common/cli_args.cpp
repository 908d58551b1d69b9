#include "common/cli_args.hpp"

#include <algorithm>
#include <utility>

namespace ferry {

CliArgs parse_cli(int argc, char** argv, std::initializer_list<std::string_view> commands) {
  CliArgs a;
  const std::pair<std::string_view, std::string CliArgs::*> valued[] = {
      {"--config", &CliArgs::config},
      {"--out", &CliArgs::out},
      {"--key", &CliArgs::key},
      {"--name", &CliArgs::name},
      {"--pubkey", &CliArgs::pubkey},
      {"--relay", &CliArgs::relay},
      {"--relay-key", &CliArgs::relay_key},
      {"--config-dir", &CliArgs::config_dir},
      {"--http", &CliArgs::http_listen},
      {"--socks", &CliArgs::socks_listen},
      {"--target", &CliArgs::target},
  };
  const std::pair<std::string_view, bool CliArgs::*> flags[] = {
      {"--help", &CliArgs::help}, {"-h", &CliArgs::help},   {"--version", &CliArgs::version},
      {"--git", &CliArgs::git},   {"--ssh", &CliArgs::ssh}, {"--json", &CliArgs::json},
  };
  int i = 1;
  if (i < argc && argv[i][0] != '-') a.command = argv[i++];
  for (; i < argc && a.error.empty(); ++i) {
    const std::string_view arg = argv[i];
    auto v =
        std::find_if(std::begin(valued), std::end(valued), [&](const auto& p) { return p.first == arg; });
    auto f = std::find_if(std::begin(flags), std::end(flags), [&](const auto& p) { return p.first == arg; });
    if (v != std::end(valued)) {
      if (i + 1 >= argc)
        a.error = std::string(arg) + " needs a value";
      else
        a.*(v->second) = argv[++i];
    } else if (f != std::end(flags)) {
      a.*(f->second) = true;
    } else if (!a.command.empty() && a.action.empty() && !arg.empty() && arg[0] != '-') {
      a.action = arg;
    } else {
      a.error = "unknown argument: " + std::string(arg);
    }
  }
  if (a.error.empty() && !a.command.empty() &&
      std::find(commands.begin(), commands.end(), a.command) == commands.end())
    a.error = "unknown command: " + a.command;
  return a;
}

}  // namespace ferry

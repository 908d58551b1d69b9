#include "common/cli_args.hpp"

#include <algorithm>

namespace ferry {

CliArgs parse_cli(int argc, char** argv, std::initializer_list<std::string_view> commands) {
  CliArgs a;
  int i = 1;
  if (i < argc && argv[i][0] != '-') a.command = argv[i++];
  for (; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&](std::string& into) {
      if (i + 1 >= argc)
        a.error = arg + " needs a value";
      else
        into = argv[++i];
    };
    if (arg == "--help" || arg == "-h")
      a.help = true;
    else if (arg == "--version")
      a.version = true;
    else if (arg == "--config")
      value(a.config);
    else if (arg == "--out")
      value(a.out);
    else if (arg == "--key")
      value(a.key);
    else
      a.error = "unknown argument: " + arg;
  }
  if (!a.command.empty() && std::find(commands.begin(), commands.end(), a.command) == commands.end())
    a.error = "unknown command: " + a.command;
  return a;
}

}  // namespace ferry

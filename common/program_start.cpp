#include "common/program_start.hpp"

#include <signal.h>
#include <sodium.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/key_commands.hpp"
#include "common/log.hpp"

namespace ferry {

void ignore_sigpipe() {
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  ::sigaction(SIGPIPE, &ignore, nullptr);
}

std::optional<int> start_program(std::string_view name, const char* usage, int argc, char** argv,
                                 std::initializer_list<std::string_view> commands, CliArgs& args) {
  if (sodium_init() < 0) return 1;
  if (const char* level = std::getenv("FERRY_LOG"); level && std::string(level) == "debug")
    log::set_level(log::Level::Debug);
  args = parse_cli(argc, argv, commands);
  const std::string who(name);
  if (!args.error.empty()) {
    std::fprintf(stderr, "%s: %s\n%s", who.c_str(), args.error.c_str(), usage);
    return 2;
  }
  if (args.help) return std::printf("%s", usage), 0;
  if (args.version) return std::printf("%s %s\n", who.c_str(), FERRY_VERSION), 0;
  if (args.command == "keygen") return keygen_command(args.out);
  if (args.command == "pubkey") return pubkey_command(args.key);
  return std::nullopt;
}

}  // namespace ferry

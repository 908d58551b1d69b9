// What both programs do before their own commands: libsodium, the FERRY_LOG level, the command line
// (exit 2 with the usage on an error), and the commands they share: --help, --version, keygen and
// pubkey. Each main then handles only what is its own.
#pragma once

#include <initializer_list>
#include <optional>
#include <string_view>

#include "common/cli_args.hpp"

namespace ferry {

// Returns the exit code when the run is already done (an error or a shared command), nothing when
// `args` holds a command for the program itself.
std::optional<int> start_program(std::string_view name, const char* usage, int argc, char** argv,
                                 std::initializer_list<std::string_view> commands, CliArgs& args);

}  // namespace ferry

// What both programs do before their own commands: libsodium, the FERRY_LOG level, the command line
// (exit 2 with the usage on an error), and the commands they share: --help, --version, keygen and
// pubkey. Each main then handles only what is its own.
#pragma once

#include <initializer_list>
#include <optional>
#include <string_view>

#include "common/cli_args.hpp"

namespace ferry {

// A write to a socket whose peer has gone raises SIGPIPE, and its default action ends the process:
// one cancelled download would take every other connection down with it. libuv writes with
// write(2)/writev(2) and leaves the signal to the application, so both programs ignore it before
// anything else; a broken pipe is then an EPIPE on that one stream, which resets it.
void ignore_sigpipe();

// Returns the exit code when the run is already done (an error or a shared command), nothing when
// `args` holds a command for the program itself.
std::optional<int> start_program(std::string_view name, const char* usage, int argc, char** argv,
                                 std::initializer_list<std::string_view> commands, CliArgs& args);

}  // namespace ferry

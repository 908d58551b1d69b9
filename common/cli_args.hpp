// The command line both programs share: `[COMMAND] [--config F] [--out F] [--key F] [--help] [--version]`.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>

namespace ferry {

struct CliArgs {
  std::string command;  // "" runs the program
  std::string config, out, key;
  std::string name, pubkey, relay, relay_key, config_dir;  // enroll, init
  std::string http_listen, socks_listen;                   // init
  bool git = false, ssh = false;                           // env
  bool json = false;                                       // doctor
  std::string target;                                      // doctor
  std::string action;  // the one word after the command (system-proxy on|off|status); "" if none
  bool help = false;
  bool version = false;
  std::string error;  // set when the line is not usable (exit code 2)
};

CliArgs parse_cli(int argc, char** argv, std::initializer_list<std::string_view> commands);

}  // namespace ferry

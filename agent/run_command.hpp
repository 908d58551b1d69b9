// Runs a program and collects what it prints, for the commands that change the operating system's
// settings (`ferry-agent system-proxy` runs gsettings or networksetup). Blocking: a command line tool.
#pragma once

#include <string>
#include <vector>

namespace ferry::agent {

struct CommandResult {
  int status = -1;  // the exit status; -1 when it could not run or was killed
  std::string out;  // standard output, at most 1 MiB
  std::string err;  // standard error, at most 1 MiB
  bool ok() const noexcept { return status == 0; }
};

// argv[0] is looked up in PATH. The child gets no standard input.
CommandResult run_command(const std::vector<std::string>& argv);

}  // namespace ferry::agent

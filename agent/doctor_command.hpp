// `ferry-agent doctor [--config FILE] [--json] [--target HOST:PORT]`: a layered report of what works
// between this laptop and the target, whether or not an agent runs: it reads the config and opens a
// link of its own. Checks in order: the config; the key file; the local ports; the relay's name; TCP;
// the handshake; wire version and cipher; RTT; the egress check (which address the targets see); with
// --target, a stream to it and the relay's verdict. A check that cannot run because an earlier one
// failed is skipped. The exit codes are doctor_report.hpp's (documented in ferry-agent(1)).
#pragma once

#include <string>

namespace ferry::agent {

struct DoctorOptions {
  std::string config;  // "" : ./agent.toml, else the default config dir's
  bool json = false;
  std::string target;  // HOST:PORT, or "" for no stream check
};

int doctor_command(const DoctorOptions& options);

}  // namespace ferry::agent

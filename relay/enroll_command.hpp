// `ferry-relay enroll`: adds an [[agents]] entry to relay.toml without hand-editing.
#pragma once

#include <string>

namespace ferry::relay {

// Validates the name and key, refuses duplicates, appends the entry through a checked scratch file
// and an atomic rename, and prints the agent-side snippet. Returns the exit code.
int enroll_command(const std::string& config_path, const std::string& name, const std::string& pubkey);

}  // namespace ferry::relay

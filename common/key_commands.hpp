// The `keygen` and `pubkey` subcommands, the same for both programs.
#pragma once

#include <optional>
#include <string>

#include "common/crypto/keys.hpp"

namespace ferry {

// Writes a new private key (0600, never over an existing file) and prints its public key.
// Returns the process exit code: 0, 1 (I/O), 2 (usage).
int keygen_command(const std::string& out_path);
// Prints the public key of a private key file.
int pubkey_command(const std::string& key_path);
// Reads a program's private key named by its config, at start: the file must belong to the user
// the program runs as, and group and others must have no access to it. On failure prints
// "CONFIG: private_key_file: PATH: why" (for a file open to others, with the command that fixes it)
// and returns nothing (the caller exits 2).
std::optional<crypto::SecretKey> load_private_key(const std::string& config_file,
                                                  const std::string& key_path);

}  // namespace ferry

// Files that hold a secret: a private key, or an agent.toml with an [auth] password. Who may have
// access to them, and the sentence that tells the user which command fixes one that is too open.
// Pure functions over a file's mode and owner, so that the rules are tested without chmod or root.
#pragma once

#include <string>
#include <string_view>

namespace ferry {

// Who must own a private key file.
enum class KeyOwner {
  // Any owner: `pubkey` and `enroll`, which root runs on the relay's key (owned by the relay's user)
  // only to print its public half.
  Anyone,
  // The effective uid of this process: a program that loads its own key at start.
  Self,
};

// Why a private key file with this mode and owner must not be used, or "" when it may. Group and
// others must have no permission bit: a key they can read is a shared key, and one they can write can
// be swapped for theirs. With KeyOwner::Self the file must belong to `euid`: its owner can do either.
// The text names the command that fixes it, e.g.
// "readable by group or others (mode 0644); run: chmod 600 /home/me/.config/ferry/agent.key".
[[nodiscard]] std::string key_file_refusal(const std::string& path, unsigned mode, unsigned owner_uid,
                                           unsigned euid, KeyOwner owner);

// The same for a configuration file that holds a password: group and others must not read it.
[[nodiscard]] std::string password_file_refusal(const std::string& path, unsigned mode);

// `s` as one shell word: unchanged when it is made of safe characters, else in single quotes
// (macOS's "Application Support" has a space, and the fix must survive a paste).
[[nodiscard]] std::string shell_word(std::string_view s);

}  // namespace ferry

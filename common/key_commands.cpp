#include "common/key_commands.hpp"

#include <cstdio>

#include "common/crypto/keys.hpp"

namespace ferry {

int keygen_command(const std::string& out_path) {
  if (out_path.empty()) {
    std::fprintf(stderr, "keygen needs --out FILE\n");
    return 2;
  }
  const auto key = crypto::SecretKey::generate();
  if (auto r = crypto::write_new_key_file(out_path, key); !r) {
    std::fprintf(stderr, "%s: %s\n", out_path.c_str(), describe(r.error()).c_str());
    return r.error().code == Errc::Exists ? 2 : 1;
  }
  std::printf("%s\n", key.public_key().to_base64().c_str());
  return 0;
}

int pubkey_command(const std::string& key_path) {
  if (key_path.empty()) {
    std::fprintf(stderr, "pubkey needs --key FILE\n");
    return 2;
  }
  std::string refusal;
  auto key = crypto::read_key_file(key_path, KeyOwner::Anyone, &refusal);
  if (!key) {
    std::fprintf(stderr, "%s: %s\n", key_path.c_str(),
                 refusal.empty() ? describe(key.error()).c_str() : refusal.c_str());
    return 2;
  }
  std::printf("%s\n", key->public_key().to_base64().c_str());
  return 0;
}

std::optional<crypto::SecretKey> load_private_key(const std::string& config_file,
                                                  const std::string& key_path) {
  std::string refusal;
  auto key = crypto::read_key_file(key_path, KeyOwner::Self, &refusal);
  if (!key) {
    std::fprintf(stderr, "%s: private_key_file: %s: %s\n", config_file.c_str(), key_path.c_str(),
                 refusal.empty() ? describe(key.error()).c_str() : refusal.c_str());
    return std::nullopt;
  }
  return std::move(*key);
}

}  // namespace ferry

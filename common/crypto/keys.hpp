// X25519 keys and their one-line base64 file format (docs/spec.md 3 "Keys": standard base64 of the 32 raw
// bytes, as WireGuard writes them). A key file holds the private key; the public key is derived.
#pragma once

#include <array>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "common/secret_file.hpp"

namespace ferry::crypto {

inline constexpr std::size_t kKeyBytes = 32;

struct PublicKey {
  std::array<std::uint8_t, kKeyBytes> bytes{};
  friend bool operator==(const PublicKey&, const PublicKey&) = default;
  std::string to_base64() const;
  static Result<PublicKey> from_base64(std::string_view text);
};

// A private key. It cannot be copied or printed; moving wipes the source, and the destructor wipes
// the bytes with sodium_memzero, so no stale copy outlives its owner. It carries its public half,
// derived once when the key is generated or adopted (loaded): a handshake then costs no base-point
// multiply for this side's static key, so a stranger's message 1 costs the relay one X25519.
class SecretKey {
 public:
  SecretKey() = default;
  ~SecretKey();
  SecretKey(const SecretKey&) = delete;
  SecretKey& operator=(const SecretKey&) = delete;
  SecretKey(SecretKey&& other) noexcept;
  SecretKey& operator=(SecretKey&& other) noexcept;

  static SecretKey generate();
  // Takes the 32 bytes and wipes `raw` afterwards.
  static SecretKey adopt(std::uint8_t (&raw)[kKeyBytes]);

  const PublicKey& public_key() const noexcept { return public_; }
  const std::uint8_t* data() const noexcept { return bytes_.data(); }

 private:
  void derive_public() noexcept;

  std::array<std::uint8_t, kKeyBytes> bytes_{};
  PublicKey public_{};
};

// Printing a secret is a compile error, not a code review finding.
std::ostream& operator<<(std::ostream&, const SecretKey&) = delete;

// Reads a private key file: one line of base64. A file that key_file_refusal() refuses (group or
// others have access; with KeyOwner::Self, another user owns it) is an Errc::Config error, and
// `refusal`, when given, gets the sentence that names the problem and its fix.
Result<SecretKey> read_key_file(const std::string& path, KeyOwner owner = KeyOwner::Anyone,
                                std::string* refusal = nullptr);

// Writes `key` to a new file with mode 0600. Refuses to overwrite an existing file (O_EXCL).
Result<void> write_new_key_file(const std::string& path, const SecretKey& key);

// Decodes standard base64 into exactly 32 bytes.
Result<void> decode_key_base64(std::string_view text, std::uint8_t (&out)[kKeyBytes]);

}  // namespace ferry::crypto

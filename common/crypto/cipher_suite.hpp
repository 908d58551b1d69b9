// The link's AEAD: ChaCha20-Poly1305 (the contract's, always available) or AES-256-GCM, which an agent
// offers when its CPU has AES and carry-less multiply instructions, because there it costs less per
// byte (docs/performance.md "AES-256-GCM"). The suite is the cipher part of the Noise protocol name,
// so it is hashed into the handshake: nobody on the path can change which one the two ends use.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace ferry::crypto {

enum class CipherSuite : std::uint8_t { ChaChaPoly = 0, AesGcm = 1 };

// A set of suites, as the relay accepts them and as message 2 announces them (bit i = suite i).
class SuiteSet {
 public:
  constexpr SuiteSet() = default;
  constexpr SuiteSet(std::initializer_list<CipherSuite> suites) {
    for (auto s : suites) add(s);
  }
  static constexpr SuiteSet from_bits(std::uint8_t bits) {
    SuiteSet s;
    s.bits_ = bits & kKnownBits;
    return s;
  }
  constexpr void add(CipherSuite s) { bits_ |= bit(s); }
  constexpr bool contains(CipherSuite s) const { return (bits_ & bit(s)) != 0; }
  constexpr bool empty() const { return bits_ == 0; }
  constexpr std::uint8_t bits() const { return bits_; }
  constexpr bool operator==(const SuiteSet&) const = default;
  constexpr bool operator!=(const SuiteSet&) const = default;

 private:
  static constexpr std::uint8_t kKnownBits = 0b11;
  static constexpr std::uint8_t bit(CipherSuite s) { return std::uint8_t(1u << static_cast<unsigned>(s)); }
  std::uint8_t bits_ = 0;
};

inline constexpr CipherSuite kAllSuites[] = {CipherSuite::ChaChaPoly, CipherSuite::AesGcm};

// The names used in configuration files, logs and `ferry-agent status`.
std::string_view suite_name(CipherSuite s) noexcept;
std::optional<CipherSuite> parse_suite(std::string_view name) noexcept;
// "chacha20-poly1305, aes-256-gcm"
std::string describe_suites(SuiteSet set);

// This CPU runs AES-GCM in hardware (x86-64: AES-NI and PCLMULQDQ; AArch64: AES and PMULL). Without
// them libcrypto's AES-GCM is several times slower than ChaCha20-Poly1305, and its table-based
// fallbacks are not constant-time: a configuration that asks for AES there gets a warning.
bool aes_gcm_accelerated() noexcept;

}  // namespace ferry::crypto

#include "common/crypto/cipher_suite.hpp"

#if defined(__aarch64__) && defined(__linux__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

namespace ferry::crypto {

std::string_view suite_name(CipherSuite s) noexcept {
  return s == CipherSuite::AesGcm ? "aes-256-gcm" : "chacha20-poly1305";
}

std::optional<CipherSuite> parse_suite(std::string_view name) noexcept {
  for (auto s : kAllSuites)
    if (suite_name(s) == name) return s;
  return std::nullopt;
}

std::string describe_suites(SuiteSet set) {
  std::string out;
  for (auto s : kAllSuites) {
    if (!set.contains(s)) continue;
    if (!out.empty()) out += ", ";
    out += suite_name(s);
  }
  return out;
}

bool aes_gcm_accelerated() noexcept {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  return __builtin_cpu_supports("aes") && __builtin_cpu_supports("pclmul");
#elif defined(__aarch64__) && defined(__linux__)
  const unsigned long caps = getauxval(AT_HWCAP);
  return (caps & HWCAP_AES) != 0 && (caps & HWCAP_PMULL) != 0;
#elif defined(__aarch64__) && defined(__APPLE__)
  return true;  // every Apple arm64 CPU has the ARMv8 crypto extensions (AES, PMULL)
#else
  return false;
#endif
}

}  // namespace ferry::crypto

#include "common/codec/http1_auth.hpp"

#include <sodium.h>

#include <algorithm>
#include <array>

namespace ferry::http1 {
namespace {

bool has_ctl(std::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7F; });
}

}  // namespace

Result<Credentials> parse_basic_credentials(std::string_view value) {
  const auto sp = value.find(' ');
  if (!iequals(value.substr(0, sp), "Basic"))
    return fail(Errc::Unsupported, "proxy auth: scheme is not Basic");
  if (sp == std::string_view::npos) return fail(Errc::Malformed, "proxy auth: no credentials");
  auto token = value.substr(sp);
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  if (token.empty()) return fail(Errc::Malformed, "proxy auth: no credentials");
  if (token.size() > kMaxTokenBytes) return fail(Errc::TooLarge, "proxy auth: credentials too long");

  // Canonical padded base64 only: libsodium refuses missing padding, stray bytes and non-zero
  // trailing bits, so one set of credentials has exactly one spelling.
  std::array<unsigned char, kMaxTokenBytes * 3 / 4> raw{};
  std::size_t len = 0;
  if (sodium_base642bin(raw.data(), raw.size(), token.data(), token.size(), nullptr, &len, nullptr,
                        sodium_base64_VARIANT_ORIGINAL) != 0)
    return fail(Errc::Malformed, "proxy auth: bad base64");
  const std::string_view pair{reinterpret_cast<const char*>(raw.data()), len};
  const auto colon = pair.find(':');
  if (colon == std::string_view::npos)
    return fail(Errc::Malformed, "proxy auth: no ':' between user and password");
  if (has_ctl(pair)) return fail(Errc::Malformed, "proxy auth: control byte in credentials");
  Credentials c{std::string(pair.substr(0, colon)), std::string(pair.substr(colon + 1))};
  sodium_memzero(raw.data(), raw.size());
  return c;
}

Result<std::optional<Credentials>> proxy_credentials(const RequestHead& head) {
  const auto n = count_headers(head.headers, "Proxy-Authorization");
  if (n == 0) return std::optional<Credentials>{};
  if (n > 1) return fail(Errc::Malformed, "proxy auth: more than one Proxy-Authorization field");
  auto c = parse_basic_credentials(find_header(head.headers, "Proxy-Authorization")->value);
  if (!c) return c.error();
  return std::optional<Credentials>{std::move(*c)};
}

}  // namespace ferry::http1

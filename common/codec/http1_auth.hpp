// Proxy-Authorization with the Basic scheme, RFC 9110 §11.7.2 and RFC 7617:
//
//   Proxy-Authorization: Basic bWU6c2VjcmV0        base64("me:secret")
//   credentials = auth-scheme 1*SP token68        (scheme case-insensitive)
//   user-pass   = user-id ":" password            (user-id has no ':'; the first ':' splits)
//
// The decoded bytes are compared with the configured [auth], never logged. Errors: Errc::Unsupported
// for another scheme (Bearer, Digest, ...), Errc::Malformed for anything that is not canonical padded
// base64 of "user:pass" without control bytes (RFC 7617 §2), Errc::TooLarge past kMaxTokenBytes.
// The agent answers each with 407 and Proxy-Authenticate, as for missing credentials.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/codec/http1_head.hpp"
#include "common/result.hpp"

namespace ferry::http1 {

// base64 of a 255-byte user and a 255-byte password is 684 bytes; 1 KiB leaves room for UTF-8 and
// bounds the decode buffer.
inline constexpr std::size_t kMaxTokenBytes = 1024;

struct Credentials {
  std::string user;
  std::string pass;
  friend bool operator==(const Credentials&, const Credentials&) = default;
};

// Parses one Proxy-Authorization field value.
[[nodiscard]] Result<Credentials> parse_basic_credentials(std::string_view field_value);

// The credentials of a request: nullopt without a Proxy-Authorization field; an error when it is
// malformed or repeated (two fields are two answers, and we will not pick one).
[[nodiscard]] Result<std::optional<Credentials>> proxy_credentials(const RequestHead& head);

}  // namespace ferry::http1

// Responses the agent writes itself: errors, and the 200 that opens a CONNECT tunnel (RFC 9110 §15,
// RFC 9112 §4). Each error is a complete HTTP/1.1 message that closes the connection:
//
//   HTTP/1.1 502 Bad Gateway\r\n
//   Content-Type: text/plain; charset=utf-8\r\n
//   Content-Length: 38\r\n
//   Connection: close\r\n
//   X-Content-Type-Options: nosniff\r\n       (the body may quote a host name the client sent)
//   [Proxy-Authenticate: Basic realm="ferry"]  (407, RFC 9110 §11.7.1: a 407 MUST carry it)
//   [Retry-After: 5]                           (503)
//   \r\n
//   ferry: connection refused by target\n
//
// The one table that maps errors to statuses lives here too (docs/spec.md 7, "Outcome table"; CONTRIBUTING.md
// "Errors and logs").
#pragma once

#include <string_view>

#include "common/codec/byte_reader.hpp"
#include "common/codec/http1_grammar.hpp"
#include "common/codec/link_frame.hpp"
#include "common/result.hpp"

namespace ferry::http1 {

// How long a client should wait after a 503 (a relay limit): long enough for streams to finish,
// short enough that a retrying browser does not look broken.
inline constexpr int kRetryAfterSeconds = 5;

[[nodiscard]] std::string_view reason_phrase(int status) noexcept;

// The body gets a trailing newline if it has none, so curl's output ends cleanly. An extra header
// whose name is not a token or whose value has control bytes is left out (no header injection).
// 407 gets Proxy-Authenticate and 503 gets Retry-After unless `extra` already has them.
[[nodiscard]] Bytes error_response(int status, std::string_view body_text, const Headers& extra = {});

// "HTTP/1.1 200 Connection established": after it, the connection is an opaque tunnel.
[[nodiscard]] Bytes connect_established();

// The outcome table (docs/spec.md 7): Denied 403; NetworkUnreachable, HostUnreachable, NameNotResolved,
// Refused and Failure 502; Timeout 504; Limit 503. Ok is 200 (for CONNECT).
[[nodiscard]] int status_for(frame::OpenCode code) noexcept;

// The status for a request that failed to parse (head, target, framing, auth): Errc::TooLarge 414,
// Errc::Limit 431, Errc::BadVersion 505, everything else 400.
[[nodiscard]] int status_for(const Error& e) noexcept;

}  // namespace ferry::http1

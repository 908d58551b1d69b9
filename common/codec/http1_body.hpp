// How long a message body is, RFC 9112 §6.3 ("Message Body Length"), for requests from clients and
// responses from origins. The agent passes body bytes through unchanged; it only has to know where
// each body ends, so the next message on the connection is read from the right byte.
//
//   request:   Transfer-Encoding: chunked          -> Chunked    (http1_chunked.hpp finds the end)
//              Content-Length: N                   -> Length N
//              neither                             -> None
//   response:  to HEAD; 1xx except 101; 204; 304   -> None
//              101, or 2xx to CONNECT              -> Tunnel     (opaque bytes both ways from here)
//              Transfer-Encoding, chunked last     -> Chunked
//              Transfer-Encoding, chunked not last -> CloseDelimited
//              Content-Length: N                   -> Length N
//              neither                             -> CloseDelimited
//
// Strict where a disagreement with the next hop would let one message hide inside another (request
// smuggling, RFC 9112 §11.2). All errors are Errc::Malformed (400 for a request, 502 for a response):
// - Transfer-Encoding together with Content-Length (§6.3 item 3 allows TE to win; we refuse, since
//   the next hop may pick the other one);
// - a request Transfer-Encoding that is anything but exactly one "chunked": "chunked, identity",
//   "gzip, chunked", "chunked, chunked", "xchunked", an empty list element. No client we serve sends
//   a coding other than chunked in a request, and every variant is a known smuggling probe;
// - Transfer-Encoding in an HTTP/1.0 message (§6.1: the framing is faulty);
// - a Content-Length that is not 1*DIGIT, or several whose values differ (§6.3 item 5). Identical
//   repeats ("5, 5" or two fields of "5") are accepted, and the rewrite sends one;
// - a Content-Length over 2^63 - 1 (no real body is that large; it is an overflow probe).
#pragma once

#include <cstdint>
#include <string_view>

#include "common/codec/http1_head.hpp"
#include "common/result.hpp"

namespace ferry::http1 {

enum class BodyKind : std::uint8_t {
  None,            // no body: the next message starts right after the head
  Length,          // exactly `length` bytes
  Chunked,         // chunked coding: feed a ChunkedScanner to find the end
  CloseDelimited,  // everything until the origin closes (responses only)
  Tunnel,          // the connection stops being HTTP (CONNECT 2xx, 101 Switching Protocols)
};

struct BodyFraming {
  BodyKind kind = BodyKind::None;
  std::uint64_t length = 0;  // BodyKind::Length only (may be 0)
  friend bool operator==(const BodyFraming&, const BodyFraming&) = default;
};

[[nodiscard]] Result<BodyFraming> request_body(const RequestHead& head);
// `request_method` is the method of the request this response answers.
[[nodiscard]] Result<BodyFraming> response_body(std::string_view request_method, const ResponseHead& head);

// The value of the Content-Length fields (all must agree), nullopt when there are none.
[[nodiscard]] Result<std::optional<std::uint64_t>> content_length(const Headers& headers);

}  // namespace ferry::http1

// The request head the agent sends to the origin for an absolute-form request (RFC 9110 §7.6,
// RFC 9112 §3.2.2):
//
//   client -> agent                              agent -> origin
//   GET http://web:8080/a?b HTTP/1.1             GET /a?b HTTP/1.1
//   Host: web:8080                               Host: web:8080
//   Proxy-Connection: keep-alive                 Accept: */*
//   Proxy-Authorization: Basic bWU6c2VjcmV0      Via: 1.1 ferry
//   Accept: */*
//
// - The request line is re-written in origin-form, with the client's HTTP version: the agent passes
//   bodies through without re-coding them, so the origin must not send a 1.0 client a chunked
//   response, which it would if we claimed 1.1 (RFC 9110 §2.5 asks a proxy for its own version; that
//   assumes a proxy that can re-code, which this one deliberately is not).
// - Hop-by-hop fields are removed (RFC 9110 §7.6.1): Connection and every field it names,
//   Proxy-Connection, Proxy-Authorization, Keep-Alive, TE, Trailer, and Upgrade unless upgrading,
//   in which case Upgrade stays and "Connection: upgrade" is sent. A Connection option naming Host,
//   Content-Length or Transfer-Encoding is ignored: removing a framing field would make the origin
//   read the body differently from us.
// - Host is generated from the request-target's authority, replacing any Host the client sent
//   (RFC 9112 §3.2.2: a proxy "MUST ignore the received Host header field" for absolute-form, and
//   MUST generate Host from the target); so an HTTP/1.0 request without Host gets one.
// - Repeated identical Content-Length values are sent as one field (RFC 9112 §6.3 item 5).
// - Via gets "1.1 ferry" (or "1.0 ferry": the received protocol, RFC 9110 §7.6.3), appended to the
//   last Via field when there is one.
// - The persistence the client asked for is passed on: "Connection: close" for a 1.1 client that
//   wants to close, "Connection: keep-alive" for a 1.0 client that wants to keep.
//
// Call request_body() first: the rewrite assumes its framing checks passed.
#pragma once

#include "common/codec/byte_reader.hpp"
#include "common/codec/http1_head.hpp"
#include "common/codec/http1_target.hpp"

namespace ferry::http1 {

struct ForwardHead {
  Bytes bytes;             // the head for the origin, through the empty line
  bool keep_alive = true;  // the client wants its connection kept after this exchange
};

// HTTP/1.1: yes unless Connection lists "close". HTTP/1.0: only when Connection lists "keep-alive"
// (RFC 9112 §9.3). Proxy-Connection is not consulted: it was never standard.
[[nodiscard]] bool client_keep_alive(const RequestHead& head);

// An HTTP/1.1 request with an Upgrade field that Connection lists (RFC 9110 §7.8; a 1.0 request's
// Upgrade is ignored). The agent decides whether to honour it and passes that to rewrite_request().
[[nodiscard]] bool wants_upgrade(const RequestHead& head);

// `target` is the parsed absolute-form request-target of `head`.
[[nodiscard]] ForwardHead rewrite_request(const RequestHead& head, const RequestTarget& target, bool upgrade);

// The response head for the client: hop-by-hop fields removed (Transfer-Encoding stays: the body is
// passed through as framed), Via added, and Connection set for the client's own connection.
[[nodiscard]] Bytes rewrite_response(const ResponseHead& head, bool client_keep_alive);

}  // namespace ferry::http1

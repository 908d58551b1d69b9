// HTTP/1.1 message heads, RFC 9112 §2-§5: a start line, field lines, an empty line.
//
//   request-line = method SP request-target SP HTTP-version CRLF      "GET http://a/ HTTP/1.1\r\n"
//   status-line  = HTTP-version SP status-code SP [ reason-phrase ] CRLF   "HTTP/1.1 200 OK\r\n"
//   HTTP-version = "HTTP/" DIGIT "." DIGIT
//   field-line   = field-name ":" OWS field-value OWS CRLF           "Host: example.com\r\n"
//   end of head  = CRLF
//
// Strict on purpose: the agent sits between clients and origins, and every place where two parsers
// could read the same bytes differently is a request-smuggling hole. So we refuse
// - lines that end in a bare LF. RFC 9112 §2.2 lets a recipient accept them, but the clients we serve
//   (curl, browsers, git, language HTTP libraries) all send CRLF, and a lenient terminator is exactly
//   the kind of disagreement smuggling exploits ("X: y\nTransfer-Encoding: chunked" is one header to
//   a strict parser and two to a lenient one). Refusing costs nothing real;
// - a bare CR anywhere (§2.2 allows replacing it with SP; we refuse instead);
// - obs-fold (a line starting with SP or HTAB, §5.2), whitespace between a field name and its colon
//   (§5.1 "MUST respond with 400"), non-token bytes in methods and field names, control bytes other
//   than HTAB in field values;
// - a request line that is not exactly "method SP target SP HTTP/1.x", and anything but HTTP/1.x.
// Empty lines before a request line are skipped (§2.2 "SHOULD ignore at least one empty line"), since
// some clients send a stray CRLF after a POST body; they count against the request-line limit.
//
// Errors, and what the agent answers (status_for() in http1_response.hpp):
//   Errc::TooLarge   start line longer than Limits::max_start_line_bytes        -> 414
//   Errc::Limit      too many field lines, or a header section over its bytes   -> 431
//   Errc::BadVersion HTTP-version with a major version other than 1             -> 505
//   Errc::Malformed  everything else                                            -> 400
#pragma once

#include <cstdint>
#include <string>

#include "common/codec/byte_reader.hpp"
#include "common/codec/decoded.hpp"
#include "common/codec/http1_grammar.hpp"
#include "common/result.hpp"

namespace ferry::http1 {

// Every limit is finite (CONTRIBUTING.md "Lifetime and ownership": everything is bounded): a client that
// never sends the empty line cannot make us buffer more than these bytes. 8 KiB for the request line is what
// nginx's large_client_header_buffers and most origins allow for a URL; 32 KiB and 100 fields hold any real
// browser's cookies and headers.
struct Limits {
  std::size_t max_start_line_bytes = 8 * 1024;  // request line or status line, without CRLF
  std::size_t max_header_count = 100;
  std::size_t max_header_section_bytes = 32 * 1024;  // the field lines with their CRLFs, and the final CRLF
};

enum class Version : std::uint8_t { Http10, Http11 };
// "1.0" or "1.1", as Via and the request line write it.
[[nodiscard]] const char* version_text(Version v) noexcept;

struct RequestHead {
  std::string method;  // a token, case-sensitive ("GET", "CONNECT")
  std::string target;  // the raw request-target; parse it with http1_target.hpp
  Version version = Version::Http11;
  Headers headers;
  friend bool operator==(const RequestHead&, const RequestHead&) = default;
};

struct StatusLine {
  Version version = Version::Http11;
  int status = 0;      // 100..599
  std::string reason;  // may be empty
  friend bool operator==(const StatusLine&, const StatusLine&) = default;
};

struct ResponseHead {
  StatusLine line;
  Headers headers;
  friend bool operator==(const ResponseHead&, const ResponseHead&) = default;
};

// Decodes the head at the front of `in`; `used` counts through the empty line, so the body (if any)
// starts at in[used]. An HTTP/1.1 request must carry exactly one Host field and any request at most
// one (RFC 9112 §3.2). The decoder re-reads from the start on every call: a caller only needs to call
// again after a read that brought a LF, since a head can only end at one; that bounds the work to one
// pass per line, not one per read.
[[nodiscard]] Result<Decoded<RequestHead>> decode_request_head(ByteSpan in, const Limits& limits = {});

// The same for a response from an origin. A missing SP after the status code is accepted when the
// reason is empty ("HTTP/1.1 200\r\n"): some origins send it, and it cannot change framing.
[[nodiscard]] Result<Decoded<ResponseHead>> decode_response_head(ByteSpan in, const Limits& limits = {});

}  // namespace ferry::http1

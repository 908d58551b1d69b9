// The egress check (docs/spec.md "Diagnosis"): an HTTP GET through the link to a URL whose answer body
// is the caller's IP address, like a what-is-my-IP service. The relay dials it from the office's
// egress address, so the answer is the address every target sees. Sans-I/O: the caller sends the
// request these functions build and feeds back every byte that came, and whether the origin closed.
//
//   agent -> origin   GET /ip HTTP/1.0\r\nHost: check.example\r\nUser-Agent: ferry\r\n
//                     Accept: text/plain\r\n\r\n
//   origin -> agent   HTTP/1.0 200 OK\r\nContent-Length: 12\r\n\r\n203.0.113.7\n
//
// HTTP/1.0 keeps the answer simple: no chunked coding, and the origin closes after it. The body is at
// most kMaxBody bytes; whitespace around the address is ignored; a body that is not one IPv4 or IPv6
// address, a status other than 2xx, or a malformed response is an error with a sentence for the user.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/codec/byte_reader.hpp"
#include "common/codec/http1_target.hpp"
#include "common/result.hpp"

namespace ferry::egress {

// Longer bodies are not an address: "2001:0db8:0000:0000:0000:ffff:192.168.100.200" is 45 bytes.
inline constexpr std::size_t kMaxBody = 256;
// Head and body together; past this the origin is not a what-is-my-IP service.
inline constexpr std::size_t kMaxAnswer = 16 * 1024;

// agent.toml [relay] egress_check_url: an absolute http:// URL (https would need TLS inside the
// stream, which ferry does not speak; an office check needs none, since the link is encrypted).
[[nodiscard]] Result<http1::RequestTarget> parse_check_url(std::string_view url);

// The request for `url`, as above.
[[nodiscard]] std::string request_for(const http1::RequestTarget& url);

struct Outcome {
  bool done = false;    // false: the answer is not complete, feed more
  std::string address;  // done: the address, as the origin wrote it, without whitespace
  std::string error;    // done, and no address: what went wrong, for the user
};

// `in` is every byte received so far; `eof` says the origin closed (or finished its stream).
[[nodiscard]] Outcome decode_answer(ByteSpan in, bool eof);

// True for a textual IPv4 or IPv6 address (inet_pton's grammar).
[[nodiscard]] bool is_ip_address(std::string_view text);
// Two addresses are the same address ("2001:db8::1" and "2001:DB8:0::1"); false if either is not one.
[[nodiscard]] bool same_address(std::string_view a, std::string_view b);

}  // namespace ferry::egress

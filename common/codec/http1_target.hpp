// The four forms of an HTTP/1.1 request-target, RFC 9112 §3.2, and what a proxy does with each:
//
//   origin-form     "/status?x=1"                    a request to the agent itself (GET /status)
//   absolute-form   "http://example.com:8080/a?b"   forward: dial example.com:8080, send "/a?b"
//   authority-form  "example.com:443", "[::1]:22"   CONNECT only: dial, answer 200, relay bytes
//   asterisk-form   "*"                              OPTIONS only; served by the agent itself
//
//   absolute-URI for http (RFC 9110 §4.2.1, RFC 3986 §3):
//     "http" "://" host [ ":" port ] [ path-abempty ] [ "?" query ]
//     host = "[" IPv6address "]" / IPv4address / reg-name
//
// What we refuse, all as Errc::Malformed (400) unless noted:
// - a scheme other than http (Errc::Unsupported; https goes through CONNECT, RFC 9110 §9.3.6);
// - userinfo ("http://user@host/"): RFC 9110 §4.2.4 deprecates it, and "http://trusted@evil/" is
//   the classic way to make a URL look like it goes somewhere it does not;
// - a fragment ('#' cannot appear in a request-target), an empty host, IPv6 zone ids and IPvFuture;
// - host names with bytes other than letters, digits, '-', '.' and '_' (percent-encoding and
//   sub-delims are legal in a reg-name, but no DNS name needs them, and the name goes to a resolver),
//   and digits-and-dots hosts that are not a dotted quad ("2130706433", "127.1"), which resolvers
//   read as addresses in their own ways;
// - a port that is not 1..65535 (absolute-form may omit it: 80; an empty port after ':' is also 80,
//   RFC 3986 §3.2.3); CONNECT requires a port.
#pragma once

#include <string>
#include <string_view>

#include "common/codec/target.hpp"
#include "common/result.hpp"

namespace ferry::http1 {

inline constexpr std::uint16_t kDefaultHttpPort = 80;

enum class TargetForm : std::uint8_t { Origin, Absolute, Authority, Asterisk };

struct RequestTarget {
  TargetForm form = TargetForm::Origin;
  Target target;            // Absolute and Authority: where to dial
  std::string authority;    // Absolute and Authority: host[:port] as written; the Host value to send
  std::string origin_form;  // Origin and Absolute: path and query, "/" when the path is empty
  friend bool operator==(const RequestTarget&, const RequestTarget&) = default;
};

// Chooses the form from the method (CONNECT: authority-form only; "*" for OPTIONS only) and parses it.
[[nodiscard]] Result<RequestTarget> parse_request_target(std::string_view method, std::string_view raw);

// The individual forms, for callers that already know which one to expect.
[[nodiscard]] Result<RequestTarget> parse_absolute_form(std::string_view raw);
[[nodiscard]] Result<RequestTarget> parse_authority_form(std::string_view raw);

}  // namespace ferry::http1

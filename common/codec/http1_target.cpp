#include "common/codec/http1_target.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <optional>

#include "common/codec/http1_grammar.hpp"

namespace ferry::http1 {
namespace {

constexpr std::size_t kMaxHostBytes = 255;  // what every Target::Name carries at most

bool host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_';
}

// port = *DIGIT (RFC 3986), here 1..65535. An absent or empty port means `dflt`; 0 means none is
// allowed to be missing (authority-form).
std::optional<std::uint16_t> parse_port(std::optional<std::string_view> s, std::uint16_t dflt) {
  if (!s || s->empty()) return dflt == 0 ? std::nullopt : std::optional<std::uint16_t>{dflt};
  if (s->size() > 5) return std::nullopt;
  unsigned v = 0;
  for (char c : *s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v == 0 || v > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(v);
}

struct Authority {
  std::string_view host;  // without brackets
  bool bracketed = false;
  std::optional<std::string_view> port;  // the text after ':', when there is a ':'
};

Result<Authority> split_authority(std::string_view a) {
  if (a.find('@') != std::string_view::npos)
    return fail(Errc::Malformed, "http target: userinfo is not allowed");
  Authority out;
  std::string_view rest;
  if (!a.empty() && a.front() == '[') {
    const auto close = a.find(']');
    if (close == std::string_view::npos) return fail(Errc::Malformed, "http target: unclosed IPv6 literal");
    out.host = a.substr(1, close - 1);
    out.bracketed = true;
    rest = a.substr(close + 1);
    if (!rest.empty() && rest.front() != ':')
      return fail(Errc::Malformed, "http target: bytes after an IPv6 literal");
  } else {
    const auto colon = a.find(':');
    out.host = a.substr(0, colon);
    rest = colon == std::string_view::npos ? std::string_view{} : a.substr(colon);
  }
  if (!rest.empty()) out.port = rest.substr(1);
  return out;
}

// A host of digits and dots that is not a dotted quad ("1.2.3", "2130706433") is refused: resolvers
// read such names as addresses in their own ways (inet_aton), and a name must not hide an address.
bool numeric_lookalike(std::string_view host) {
  return std::all_of(host.begin(), host.end(), [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
}

// host [ ":" port ]; `dflt` 0 means the port is required (authority-form).
Result<Target> parse_host_port(std::string_view authority, std::uint16_t dflt) {
  auto a = split_authority(authority);
  if (!a) return a.error();
  const auto port = parse_port(a->port, dflt);
  if (!port) return fail(Errc::Malformed, "http target: bad or missing port");
  if (a->host.empty() || a->host.size() > kMaxHostBytes)
    return fail(Errc::Malformed, "http target: bad host");
  const std::string text(a->host);  // inet_pton needs a terminated string
  if (a->bracketed) {
    std::array<std::uint8_t, 16> ip{};
    if (inet_pton(AF_INET6, text.c_str(), ip.data()) != 1)
      return fail(Errc::Malformed, "http target: bad IPv6 literal");
    return Target::ipv6(ip, *port);
  }
  if (!std::all_of(text.begin(), text.end(), host_char))
    return fail(Errc::Malformed, "http target: bad host");
  std::array<std::uint8_t, 4> ip{};
  if (inet_pton(AF_INET, text.c_str(), ip.data()) == 1) return Target::ipv4(ip, *port);
  if (numeric_lookalike(text))
    return fail(Errc::Malformed, "http target: numeric host that is not an IPv4 address");
  return Target::host(text, *port);
}

}  // namespace

Result<RequestTarget> parse_absolute_form(std::string_view raw) {
  constexpr std::string_view kScheme = "http://";
  const auto sep = raw.find("://");
  if (sep == std::string_view::npos) return fail(Errc::Malformed, "http target: not an absolute URI");
  if (!iequals(raw.substr(0, sep + 3), kScheme))
    return fail(Errc::Unsupported, "http target: scheme is not http");
  if (raw.find('#') != std::string_view::npos)
    return fail(Errc::Malformed, "http target: fragment in a request-target");
  const auto rest = raw.substr(kScheme.size());
  const auto end = std::min(rest.find('/'), rest.find('?'));
  const auto authority = rest.substr(0, end);
  auto target = parse_host_port(authority, kDefaultHttpPort);
  if (!target) return target.error();
  RequestTarget out;
  out.form = TargetForm::Absolute;
  out.target = std::move(*target);
  out.authority = authority;
  const auto path = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
  out.origin_form = path.empty() || path.front() == '?' ? "/" + std::string(path) : std::string(path);
  return out;
}

Result<RequestTarget> parse_authority_form(std::string_view raw) {
  if (raw.find_first_of("/?#") != std::string_view::npos)
    return fail(Errc::Malformed, "http target: CONNECT needs host:port");
  auto target = parse_host_port(raw, 0);
  if (!target) return target.error();
  RequestTarget out;
  out.form = TargetForm::Authority;
  out.target = std::move(*target);
  out.authority = raw;
  return out;
}

Result<RequestTarget> parse_request_target(std::string_view method, std::string_view raw) {
  if (raw.empty()) return fail(Errc::Malformed, "http target: empty");
  if (method == "CONNECT") return parse_authority_form(raw);
  if (raw.front() != '/' && raw != "*") return parse_absolute_form(raw);
  RequestTarget out;
  if (raw == "*") {
    if (method != "OPTIONS") return fail(Errc::Malformed, "http target: '*' is for OPTIONS only");
    out.form = TargetForm::Asterisk;
    return out;
  }
  if (raw.find('#') != std::string_view::npos)
    return fail(Errc::Malformed, "http target: fragment in a request-target");
  out.form = TargetForm::Origin;
  out.origin_form = raw;
  return out;
}

}  // namespace ferry::http1

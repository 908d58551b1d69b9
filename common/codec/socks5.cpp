#include "common/codec/socks5.hpp"

#include <algorithm>
#include <array>

namespace ferry::socks5 {
namespace {

constexpr std::size_t kMaxField = 255;  // every SOCKS5 length field is one byte

template <class M>
Result<Decoded<M>> need_more() {
  return Decoded<M>{};
}

// DOMAINNAME bytes go to the relay's resolver, its policy and its logs: printable ASCII without
// spaces, so nothing the client sends can forge a log line or smuggle a NUL into getaddrinfo.
bool printable_name(ByteSpan name) {
  return !name.empty() &&
         std::all_of(name.begin(), name.end(), [](std::uint8_t c) { return c >= 0x21 && c <= 0x7E; });
}

// Reads ATYP-dependent DST.ADDR and DST.PORT. nullopt in the result means "need more".
Result<std::optional<Target>> read_address(ByteReader& r, std::uint8_t atyp) {
  std::optional<Target> t;
  if (atyp == kAtypIpv4) {
    const auto a = r.take(4);
    const auto port = r.be16();
    if (!port) return t;
    std::array<std::uint8_t, 4> ip{};
    std::copy(a->begin(), a->end(), ip.begin());
    t = Target::ipv4(ip, *port);
  } else if (atyp == kAtypIpv6) {
    const auto a = r.take(16);
    const auto port = r.be16();
    if (!port) return t;
    std::array<std::uint8_t, 16> ip{};
    std::copy(a->begin(), a->end(), ip.begin());
    t = Target::ipv6(ip, *port);
  } else if (atyp == kAtypDomainName) {
    const auto len = r.u8();
    if (len && *len == 0) return fail(Errc::Malformed, "socks5 request: empty DOMAINNAME");
    const auto name = len ? r.take(*len) : std::nullopt;
    if (name && !printable_name(*name))
      return fail(Errc::Malformed, "socks5 request: DOMAINNAME is not printable ASCII");
    const auto port = r.be16();
    if (!port) return t;
    t = Target::host(std::string(name->begin(), name->end()), *port);
  } else {
    return fail(Errc::Unsupported, "socks5 request: unknown ATYP");
  }
  return t;
}

void put_field(Bytes& out, std::string_view s) {
  const std::size_t n = std::min(s.size(), kMaxField);
  out.push_back(static_cast<std::uint8_t>(n));
  out.insert(out.end(), s.begin(), s.begin() + static_cast<std::ptrdiff_t>(n));
}

void put_address(Bytes& out, const Target& t) {
  switch (t.kind) {
    case Target::Kind::Ipv4:
      out.push_back(kAtypIpv4);
      out.insert(out.end(), t.ip.begin(), t.ip.begin() + 4);
      break;
    case Target::Kind::Ipv6:
      out.push_back(kAtypIpv6);
      out.insert(out.end(), t.ip.begin(), t.ip.end());
      break;
    case Target::Kind::Name:
      out.push_back(kAtypDomainName);
      put_field(out, t.name);
      break;
  }
  out.push_back(static_cast<std::uint8_t>(t.port >> 8));
  out.push_back(static_cast<std::uint8_t>(t.port));
}

}  // namespace

bool Greeting::offers(std::uint8_t method) const noexcept {
  return std::find(methods.begin(), methods.end(), method) != methods.end();
}

Result<Decoded<Greeting>> decode_greeting(ByteSpan in) {
  ByteReader r{in};
  const auto ver = r.u8();
  if (!ver) return need_more<Greeting>();
  if (*ver != kVersion) return fail(Errc::BadVersion, "socks5 greeting: VER is not 5");
  const auto nmethods = r.u8();
  if (!nmethods) return need_more<Greeting>();
  if (*nmethods == 0) return fail(Errc::Malformed, "socks5 greeting: NMETHODS is 0");
  const auto methods = r.take(*nmethods);
  if (!methods) return need_more<Greeting>();
  return Decoded<Greeting>{Greeting{{methods->begin(), methods->end()}}, r.used()};
}

Bytes encode_method_choice(std::uint8_t method) { return {kVersion, method}; }

Result<Decoded<UserPass>> decode_userpass(ByteSpan in) {
  ByteReader r{in};
  const auto ver = r.u8();
  if (!ver) return need_more<UserPass>();
  if (*ver != kUserPassVersion) return fail(Errc::BadVersion, "socks5 username/password: VER is not 1");
  const auto ulen = r.u8();
  if (ulen && *ulen == 0) return fail(Errc::Malformed, "socks5 username/password: empty UNAME");
  const auto user = ulen ? r.take(*ulen) : std::nullopt;
  const auto plen = r.u8();
  if (plen && *plen == 0) return fail(Errc::Malformed, "socks5 username/password: empty PASSWD");
  const auto pass = plen ? r.take(*plen) : std::nullopt;
  if (!pass) return need_more<UserPass>();
  UserPass up{std::string(user->begin(), user->end()), std::string(pass->begin(), pass->end())};
  return Decoded<UserPass>{std::move(up), r.used()};
}

Bytes encode_userpass_status(bool ok) { return {kUserPassVersion, ok ? kUserPassSuccess : kUserPassFailure}; }

Result<Decoded<Request>> decode_request(ByteSpan in) {
  ByteReader r{in};
  const auto ver = r.u8();
  if (ver && *ver != kVersion) return fail(Errc::BadVersion, "socks5 request: VER is not 5");
  const auto cmd = r.u8();
  const auto rsv = r.u8();
  if (rsv && *rsv != 0) return fail(Errc::Malformed, "socks5 request: RSV is not 0");
  const auto atyp = r.u8();
  if (!atyp) return need_more<Request>();
  auto target = read_address(r, *atyp);
  if (!target) return target.error();
  if (!*target) return need_more<Request>();
  return Decoded<Request>{Request{*cmd, std::move(**target)}, r.used()};
}

Bytes encode_reply(std::uint8_t rep, const Target& bound) {
  Bytes out{kVersion, rep, 0x00};
  put_address(out, bound);
  return out;
}

Bytes encode_greeting(const Greeting& g) {
  const std::size_t n = std::min(g.methods.size(), kMaxField);
  Bytes out;
  out.reserve(2 + n);
  out.push_back(kVersion);
  out.push_back(static_cast<std::uint8_t>(n));
  for (std::size_t i = 0; i < n; ++i) out.push_back(g.methods[i]);
  return out;
}

Bytes encode_userpass(const UserPass& up) {
  Bytes out{kUserPassVersion};
  put_field(out, up.user);
  put_field(out, up.pass);
  return out;
}

Bytes encode_request(const Request& r) {
  Bytes out{kVersion, r.cmd, 0x00};
  put_address(out, r.target);
  return out;
}

std::uint8_t rep_for(frame::OpenCode code) noexcept {
  switch (code) {
    case frame::OpenCode::Ok:
      return kRepSucceeded;
    case frame::OpenCode::Denied:
      return kRepConnectionNotAllowedByRuleset;
    case frame::OpenCode::NetworkUnreachable:
      return kRepNetworkUnreachable;
    case frame::OpenCode::HostUnreachable:
    case frame::OpenCode::NameNotResolved:
      return kRepHostUnreachable;
    case frame::OpenCode::Refused:
      return kRepConnectionRefused;
    case frame::OpenCode::Timeout:
      return kRepTtlExpired;
    case frame::OpenCode::Limit:
    case frame::OpenCode::Failure:
      return kRepGeneralSocksServerFailure;
  }
  return kRepGeneralSocksServerFailure;
}

std::uint8_t rep_for(const Error& e) noexcept {
  return e.code == Errc::Unsupported ? kRepAddressTypeNotSupported : kRepGeneralSocksServerFailure;
}

}  // namespace ferry::socks5

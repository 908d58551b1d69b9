#include "common/codec/proxy_v2.hpp"

#include <algorithm>

namespace ferry::proxy_v2 {
namespace {

constexpr std::uint8_t kVersion = 0x2;
constexpr std::uint8_t kCmdLocal = 0x0, kCmdProxy = 0x1;
constexpr std::uint8_t kFamilyUnspec = 0x0, kFamilyInet = 0x1, kFamilyInet6 = 0x2;
constexpr std::uint8_t kTransportUnspec = 0x0, kTransportStream = 0x1;
constexpr std::uint8_t kTlvNoop = 0x04;

}  // namespace

std::string Endpoint::to_string() const {
  const std::string a = address.to_string();
  return (address.is_v4() ? a : "[" + a + "]") + ":" + std::to_string(port);
}

bool starts_like_header(ByteSpan in) noexcept {
  const std::size_t n = std::min(in.size(), kSignature.size());
  return std::equal(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(n), kSignature.begin());
}

Result<Decoded<Header>> decode(ByteSpan in) {
  if (!starts_like_header(in)) return fail(Errc::Malformed, "PROXY v2: no signature");
  ByteReader r(in);
  (void)r.take(kSignature.size());
  const auto vc = r.u8();
  const auto ft = r.u8();
  const auto len = r.be16();
  if (!len) return Decoded<Header>{};  // need more
  if (*vc >> 4 != kVersion) return fail(Errc::BadVersion, "PROXY v2: version is not 2");
  const std::uint8_t command = *vc & 0x0F, family = *ft >> 4, transport = *ft & 0x0F;
  if (command != kCmdLocal && command != kCmdProxy) return fail(Errc::Malformed, "PROXY v2: unknown command");
  if (kFixedBytes + *len > kMaxHeaderBytes)
    return fail(Errc::TooLarge, "PROXY v2: header longer than 1024 bytes");
  const auto body = r.take(*len);
  if (!body) return Decoded<Header>{};  // need more
  Header h;
  if (command == kCmdLocal) {
    // The balancer's own connection (a health check): whatever address block it carries is ignored.
    h.local = true;
    return Decoded<Header>{h, kFixedBytes + *len};
  }
  if (transport != kTransportStream)
    return fail(Errc::Unsupported, transport == kTransportUnspec ? "PROXY v2: PROXY without a transport"
                                                                 : "PROXY v2: not a TCP connection");
  if (family != kFamilyInet && family != kFamilyInet6)
    return fail(Errc::Unsupported, family == kFamilyUnspec ? "PROXY v2: PROXY without an address family"
                                                           : "PROXY v2: not an IPv4 or IPv6 connection");
  const bool v4 = family == kFamilyInet;
  ByteReader a(*body);
  const auto src = a.take(v4 ? 4 : 16), dst = a.take(v4 ? 4 : 16);
  const auto sport = a.be16(), dport = a.be16();
  if (!dport)
    return fail(Errc::Malformed, v4 ? "PROXY v2: length too short for IPv4 addresses"
                                    : "PROXY v2: length too short for IPv6 addresses");
  const auto address = [v4](ByteSpan b) {  // as Address::v4 and ::v6 make them: unused bytes zero
    policy::Address out;
    out.family = v4 ? policy::Address::Family::V4 : policy::Address::Family::V6;
    std::copy(b.begin(), b.end(), out.bytes.begin());
    return out;
  };
  h.source = {address(*src), *sport};
  h.destination = {address(*dst), *dport};
  return Decoded<Header>{h, kFixedBytes + *len};  // TLVs after the addresses are skipped
}

Bytes encode(const Header& h, std::size_t tlv_bytes) {
  Bytes out(kSignature.begin(), kSignature.end());
  Bytes body;
  if (!h.local) {
    const bool v4 = h.source.address.is_v4();
    const std::size_t n = v4 ? 4 : 16;
    body.insert(body.end(), h.source.address.bytes.begin(), h.source.address.bytes.begin() + n);
    body.insert(body.end(), h.destination.address.bytes.begin(), h.destination.address.bytes.begin() + n);
    for (std::uint16_t port : {h.source.port, h.destination.port}) {
      body.push_back(static_cast<std::uint8_t>(port >> 8));
      body.push_back(static_cast<std::uint8_t>(port));
    }
  }
  if (tlv_bytes >= 3) {  // one NOOP TLV: type, be16 length, value
    const std::size_t value = tlv_bytes - 3;
    body.push_back(kTlvNoop);
    body.push_back(static_cast<std::uint8_t>(value >> 8));
    body.push_back(static_cast<std::uint8_t>(value));
    body.insert(body.end(), value, 0);
  }
  out.push_back(static_cast<std::uint8_t>(kVersion << 4 | (h.local ? kCmdLocal : kCmdProxy)));
  out.push_back(h.local
                    ? static_cast<std::uint8_t>(kFamilyUnspec << 4 | kTransportUnspec)
                    : static_cast<std::uint8_t>((h.source.address.is_v4() ? kFamilyInet : kFamilyInet6) << 4 |
                                                kTransportStream));
  out.push_back(static_cast<std::uint8_t>(body.size() >> 8));
  out.push_back(static_cast<std::uint8_t>(body.size()));
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

}  // namespace ferry::proxy_v2

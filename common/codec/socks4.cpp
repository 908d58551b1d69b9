#include "common/codec/socks4.hpp"

#include <algorithm>
#include <array>

namespace ferry::socks4 {
namespace {

constexpr std::size_t kFixedBytes = 8;  // VN, CD, DSTPORT, DSTIP

// Finds a NUL-terminated string of at most `max` bytes at the front of `in`. Returns the string's
// length, nullopt for "need more", or an error once `max` bytes have passed without a NUL.
Result<std::optional<std::size_t>> find_nul(ByteSpan in, std::size_t max, const char* what) {
  const std::size_t window = std::min(in.size(), max + 1);
  const auto nul = std::find(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(window), 0);
  if (nul != in.begin() + static_cast<std::ptrdiff_t>(window))
    return std::optional<std::size_t>{static_cast<std::size_t>(nul - in.begin())};
  if (window == max + 1) return fail(Errc::TooLarge, what);
  return std::optional<std::size_t>{};
}

// 4a host names go to the relay's resolver, policy and logs: printable ASCII without spaces.
bool printable_name(ByteSpan name) {
  return !name.empty() &&
         std::all_of(name.begin(), name.end(), [](std::uint8_t c) { return c >= 0x21 && c <= 0x7E; });
}

bool is_4a(const std::array<std::uint8_t, 4>& ip) {
  return ip[0] == 0 && ip[1] == 0 && ip[2] == 0 && ip[3] != 0;
}

}  // namespace

Result<Decoded<Request>> decode_request(ByteSpan in) {
  ByteReader r{in};
  const auto vn = r.u8();
  if (vn && *vn != kVersion) return fail(Errc::BadVersion, "socks4 request: VN is not 4");
  const auto cd = r.u8();
  const auto port = r.be16();
  const auto dst = r.take(4);
  if (!dst) return Decoded<Request>{};
  std::array<std::uint8_t, 4> ip{};
  std::copy(dst->begin(), dst->end(), ip.begin());

  auto user_len =
      find_nul(in.subspan(kFixedBytes), kMaxUserIdBytes, "socks4 request: USERID longer than 255 bytes");
  if (!user_len) return user_len.error();
  if (!*user_len) return Decoded<Request>{};
  const auto user = in.subspan(kFixedBytes, **user_len);
  Request req{*cd, Target::ipv4(ip, *port), std::string(user.begin(), user.end())};
  std::size_t used = kFixedBytes + **user_len + 1;
  if (!is_4a(ip)) return Decoded<Request>{std::move(req), used};

  auto host_len =
      find_nul(in.subspan(used), kMaxHostNameBytes, "socks4a request: host name longer than 255 bytes");
  if (!host_len) return host_len.error();
  if (!*host_len) return Decoded<Request>{};
  const auto host = in.subspan(used, **host_len);
  if (!printable_name(host))
    return fail(Errc::Malformed, "socks4a request: host name empty or not printable ASCII");
  req.target = Target::host(std::string(host.begin(), host.end()), *port);
  used += **host_len + 1;
  return Decoded<Request>{std::move(req), used};
}

Bytes encode_reply(std::uint8_t code) { return {kReplyVersion, code, 0, 0, 0, 0, 0, 0}; }

Bytes encode_request(const Request& r) {
  const bool name = r.target.kind == Target::Kind::Name;
  const auto user = std::string_view(r.user_id).substr(0, kMaxUserIdBytes);
  const auto host = name ? std::string_view(r.target.name).substr(0, kMaxHostNameBytes) : std::string_view{};
  Bytes out;
  out.reserve(kFixedBytes + user.size() + 1 + (name ? host.size() + 1 : 0));
  out.push_back(kVersion);
  out.push_back(r.cmd);
  out.push_back(static_cast<std::uint8_t>(r.target.port >> 8));
  out.push_back(static_cast<std::uint8_t>(r.target.port));
  for (std::size_t i = 0; i < 4; ++i) out.push_back(name ? (i == 3 ? 1 : 0) : r.target.ip[i]);
  for (char c : user) out.push_back(static_cast<std::uint8_t>(c));
  out.push_back(0);
  if (!name) return out;
  for (char c : host) out.push_back(static_cast<std::uint8_t>(c));
  out.push_back(0);
  return out;
}

std::uint8_t code_for(frame::OpenCode code) noexcept {
  return code == frame::OpenCode::Ok ? kRequestGranted : kRequestRejectedOrFailed;
}

}  // namespace ferry::socks4

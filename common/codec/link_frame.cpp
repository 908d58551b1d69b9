#include "common/codec/link_frame.hpp"

#include <cstring>

namespace ferry::frame {
namespace {

constexpr std::uint8_t kAtypIpv4 = 1, kAtypName = 3, kAtypIpv6 = 4;

bool known_type(std::uint8_t t) { return t >= 0x01 && t <= 0x0D; }

// Close codes are advisory: an unknown one (from a newer peer) reads as a protocol error.
CloseCode close_code(std::uint8_t c) {
  return c <= static_cast<std::uint8_t>(CloseCode::Limit) ? static_cast<CloseCode>(c)
                                                          : CloseCode::ProtocolError;
}

// A host name as the wire carries it: 1..255 printable ASCII bytes, no spaces. Anything else
// would end up in logs and in the resolver, so it is refused at the door.
bool valid_name(ByteSpan n) {
  if (n.empty()) return false;
  for (auto c : n)
    if (c <= 0x20 || c >= 0x7F) return false;
  return true;
}

Result<std::string> read_reason(ByteReader& r) {
  const auto len = r.u8();
  if (!len) return fail(Errc::Malformed, "reason length missing");
  const auto text = r.take(*len);
  if (!text) return fail(Errc::Malformed, "reason shorter than its length");
  // The peer's words end up in logs and HTTP error pages: printable ASCII only.
  std::string out(text->begin(), text->end());
  for (auto& c : out)
    if (c < 0x20 || c > 0x7E) c = '?';
  return out;
}

void append(Bytes& out, ByteSpan s) { out.insert(out.end(), s.begin(), s.end()); }
void append_be32(Bytes& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(v >> (24 - 8 * i)));
}
void append_be64(Bytes& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::uint8_t>(v >> (56 - 8 * i)));
}
void append_reason(Bytes& out, const std::string& s) {
  const std::size_t n = s.size() < kMaxReasonBytes ? s.size() : kMaxReasonBytes;
  out.push_back(static_cast<std::uint8_t>(n));
  out.insert(out.end(), s.begin(), s.begin() + static_cast<std::ptrdiff_t>(n));
}
std::size_t reason_len(const std::string& s) {
  return 1 + (s.size() < kMaxReasonBytes ? s.size() : kMaxReasonBytes);
}

}  // namespace

const char* open_code_name(OpenCode c) noexcept {
  switch (c) {
    case OpenCode::Ok:
      return "connected";
    case OpenCode::Refused:
      return "connection refused";
    case OpenCode::HostUnreachable:
      return "host unreachable";
    case OpenCode::NetworkUnreachable:
      return "network unreachable";
    case OpenCode::Timeout:
      return "dial timed out";
    case OpenCode::Denied:
      return "denied by policy";
    case OpenCode::NameNotResolved:
      return "name not resolved";
    case OpenCode::Limit:
      return "limit reached";
    case OpenCode::Failure:
      return "failure";
  }
  return "unknown";
}

const char* reset_code_name(ResetCode c) noexcept {
  switch (c) {
    case ResetCode::Cancel:
      return "cancelled";
    case ResetCode::ProtocolError:
      return "protocol error";
    case ResetCode::IdleTimeout:
      return "idle timeout";
    case ResetCode::Shutdown:
      return "the link is going away";
    case ResetCode::TargetError:
      return "the target connection failed";
    case ResetCode::Denied:
      return "denied by policy";
  }
  return "unknown";
}

Result<Frame> decode(ByteSpan in, std::size_t& used) {
  ByteReader r{in};
  const auto type = r.u8();
  const auto flags = r.u8();
  const auto stream = r.be32();
  const auto len = r.be16();
  if (!len) return fail(Errc::Malformed, "a frame header is cut short");
  if (!known_type(*type)) return fail(Errc::Malformed, "unknown frame type");
  const auto payload = r.take(*len);
  if (!payload) return fail(Errc::Malformed, "a frame is longer than its record");
  used = r.used();
  return Frame{static_cast<Type>(*type), *flags, *stream, *payload};
}

Result<Open> parse_open(ByteSpan payload) {
  ByteReader r{payload};
  const auto window = r.be32();
  const auto atyp = r.u8();
  if (!atyp) return fail(Errc::Malformed, "OPEN is cut short");
  Open o{*window, {}};
  if (*atyp == kAtypIpv4) {
    const auto a = r.take(4);
    if (!a) return fail(Errc::Malformed, "OPEN IPv4 address is cut short");
    std::array<std::uint8_t, 4> ip{};
    std::memcpy(ip.data(), a->data(), 4);
    o.target = Target::ipv4(ip, 0);
  } else if (*atyp == kAtypIpv6) {
    const auto a = r.take(16);
    if (!a) return fail(Errc::Malformed, "OPEN IPv6 address is cut short");
    std::array<std::uint8_t, 16> ip{};
    std::memcpy(ip.data(), a->data(), 16);
    o.target = Target::ipv6(ip, 0);
  } else if (*atyp == kAtypName) {
    const auto n = r.u8();
    const auto name = n ? r.take(*n) : std::nullopt;
    if (!name) return fail(Errc::Malformed, "OPEN host name is cut short");
    if (!valid_name(*name)) return fail(Errc::Malformed, "OPEN host name is empty or not printable ASCII");
    o.target = Target::host(std::string(name->begin(), name->end()), 0);
  } else {
    return fail(Errc::Malformed, "OPEN address type is unknown");
  }
  const auto port = r.be16();
  if (!port) return fail(Errc::Malformed, "OPEN port is cut short");
  if (r.remaining() != 0) return fail(Errc::Malformed, "OPEN has trailing bytes");
  o.target.port = *port;
  return o;
}

Result<OpenResult> parse_open_result(ByteSpan payload) {
  ByteReader r{payload};
  const auto code = r.u8();
  const auto window = r.be32();
  if (!window) return fail(Errc::Malformed, "OPEN_RESULT is cut short");
  if (*code > static_cast<std::uint8_t>(OpenCode::Failure))
    return fail(Errc::Malformed, "OPEN_RESULT code is unknown");
  auto reason = read_reason(r);
  if (!reason) return reason.error();
  if (r.remaining() != 0) return fail(Errc::Malformed, "OPEN_RESULT has trailing bytes");
  return OpenResult{static_cast<OpenCode>(*code), *window, std::move(*reason)};
}

Result<WindowUpdate> parse_window(ByteSpan payload) {
  if (payload.size() != 12) return fail(Errc::Malformed, "WINDOW must be 12 bytes");
  ByteReader r{payload};
  return WindowUpdate{*r.be32(), *r.be64()};
}

Result<Resume> parse_resume(ByteSpan payload) {
  if (payload.size() != 16) return fail(Errc::Malformed, "RESUME must be 16 bytes");
  ByteReader r{payload};
  Resume v{*r.be64(), *r.be64()};
  if (v.allowed < v.received) return fail(Errc::Malformed, "RESUME allows less than it received");
  return v;
}

Result<ResetCode> parse_reset(ByteSpan payload) {
  if (payload.size() != 1) return fail(Errc::Malformed, "RESET must be 1 byte");
  if (payload[0] > static_cast<std::uint8_t>(ResetCode::Denied)) return ResetCode::ProtocolError;
  return static_cast<ResetCode>(payload[0]);
}

Result<std::uint64_t> parse_ping(ByteSpan payload) {
  if (payload.size() != 8) return fail(Errc::Malformed, "PING must be 8 bytes");
  ByteReader r{payload};
  return *r.be64();
}

Result<GoAway> parse_goaway(ByteSpan payload) {
  ByteReader r{payload};
  const auto last = r.be32();
  const auto code = r.u8();
  if (!code) return fail(Errc::Malformed, "GOAWAY is cut short");
  auto reason = read_reason(r);
  if (!reason) return reason.error();
  if (r.remaining() != 0) return fail(Errc::Malformed, "GOAWAY has trailing bytes");
  return GoAway{*last, close_code(*code), std::move(*reason)};
}

Result<KeyUpdateKind> parse_key_update(ByteSpan payload) {
  if (payload.size() != 1 || payload[0] > 1)
    return fail(Errc::Malformed, "KEY_UPDATE must be 1 byte: 0 or 1");
  return static_cast<KeyUpdateKind>(payload[0]);
}

Result<CloseInfo> parse_close(ByteSpan payload) {
  ByteReader r{payload};
  const auto code = r.u8();
  if (!code) return fail(Errc::Malformed, "CLOSE is cut short");
  auto reason = read_reason(r);
  if (!reason) return reason.error();
  if (r.remaining() != 0) return fail(Errc::Malformed, "CLOSE has trailing bytes");
  return CloseInfo{close_code(*code), std::move(*reason)};
}

Result<Routes> parse_routes(ByteSpan payload) {
  if (payload.size() > kMaxRoutesPayload) return fail(Errc::TooLarge, "ROUTES is longer than 60 KiB");
  ByteReader r{payload};
  const auto version = r.be32();
  const auto count = r.be16();
  if (!version || !count) return fail(Errc::Malformed, "ROUTES is cut short");
  Routes out{*version, {}};
  out.entries.reserve(*count);
  for (std::uint16_t i = 0; i < *count; ++i) {
    const auto len = r.u8();
    if (!len || *len == 0) return fail(Errc::Malformed, "a ROUTES entry is empty or cut short");
    const auto text = r.take(*len);
    if (!text) return fail(Errc::Malformed, "a ROUTES entry is shorter than its length");
    for (std::uint8_t c : *text)
      if (c <= 0x20 || c > 0x7E)
        return fail(Errc::Malformed, "a ROUTES entry has a byte outside printable ASCII");
    out.entries.emplace_back(text->begin(), text->end());
  }
  if (r.remaining() != 0) return fail(Errc::Malformed, "ROUTES has trailing bytes");
  return out;
}

std::size_t routes_payload_size(const std::vector<std::string>& entries) noexcept {
  std::size_t n = 4 + 2;
  for (const std::string& e : entries) n += 1 + e.size();
  return n;
}

void put_header(Bytes& out, Type t, std::uint8_t flags, std::uint32_t stream, std::size_t len) {
  out.push_back(static_cast<std::uint8_t>(t));
  out.push_back(flags);
  append_be32(out, stream);
  out.push_back(static_cast<std::uint8_t>(len >> 8));
  out.push_back(static_cast<std::uint8_t>(len));
}

void put_open(Bytes& out, std::uint32_t stream, const Open& o) {
  const auto& t = o.target;
  const std::size_t addr_len = t.kind == Target::Kind::Ipv4   ? 4
                               : t.kind == Target::Kind::Ipv6 ? 16
                                                              : 1 + t.name.size();
  put_header(out, Type::Open, 0, stream, 4 + 1 + addr_len + 2);
  append_be32(out, o.window);
  switch (t.kind) {
    case Target::Kind::Ipv4:
      out.push_back(kAtypIpv4);
      append(out, ByteSpan(t.ip.data(), 4));
      break;
    case Target::Kind::Ipv6:
      out.push_back(kAtypIpv6);
      append(out, t.ip);
      break;
    case Target::Kind::Name:
      out.push_back(kAtypName);
      out.push_back(static_cast<std::uint8_t>(t.name.size()));
      out.insert(out.end(), t.name.begin(), t.name.end());
      break;
  }
  out.push_back(static_cast<std::uint8_t>(t.port >> 8));
  out.push_back(static_cast<std::uint8_t>(t.port));
}

void put_open_result(Bytes& out, std::uint32_t stream, const OpenResult& r) {
  put_header(out, Type::OpenResult, 0, stream, 1 + 4 + reason_len(r.reason));
  out.push_back(static_cast<std::uint8_t>(r.code));
  append_be32(out, r.window);
  append_reason(out, r.reason);
}

void put_data(Bytes& out, std::uint32_t stream, ByteSpan data, bool fin) {
  put_header(out, Type::Data, fin ? kFlagFin : 0, stream, data.size());
  append(out, data);
}

void put_window(Bytes& out, std::uint32_t stream, const WindowUpdate& w, std::uint8_t flags) {
  put_header(out, Type::Window, flags, stream, 12);
  append_be32(out, w.increment);
  append_be64(out, w.delivered);
}

void put_resume(Bytes& out, std::uint32_t stream, std::uint8_t flags, const Resume& r) {
  put_header(out, Type::Resume, flags, stream, 16);
  append_be64(out, r.received);
  append_be64(out, r.allowed);
}

void put_resume_done(Bytes& out) { put_header(out, Type::ResumeDone, 0, 0, 0); }

void put_reset(Bytes& out, std::uint32_t stream, ResetCode c) {
  put_header(out, Type::Reset, 0, stream, 1);
  out.push_back(static_cast<std::uint8_t>(c));
}

void put_ping(Bytes& out, std::uint64_t opaque, bool ack) {
  put_header(out, Type::Ping, ack ? kFlagAck : 0, 0, 8);
  append_be64(out, opaque);
}

void put_goaway(Bytes& out, const GoAway& g) {
  put_header(out, Type::GoAway, 0, 0, 4 + 1 + reason_len(g.reason));
  append_be32(out, g.last_stream);
  out.push_back(static_cast<std::uint8_t>(g.code));
  append_reason(out, g.reason);
}

void put_key_update(Bytes& out, KeyUpdateKind k) {
  put_header(out, Type::KeyUpdate, 0, 0, 1);
  out.push_back(static_cast<std::uint8_t>(k));
}

void put_rehandshake(Bytes& out, ByteSpan noise_message) {
  put_header(out, Type::Rehandshake, 0, 0, noise_message.size());
  append(out, noise_message);
}

void put_routes(Bytes& out, const Routes& r) {
  std::size_t size = 4 + 2, count = 0;
  for (const std::string& e : r.entries) {
    if (e.empty() || e.size() > 255 || size + 1 + e.size() > kMaxRoutesPayload || count == 0xFFFF) break;
    size += 1 + e.size();
    ++count;
  }
  put_header(out, Type::Routes, 0, 0, size);
  append_be32(out, r.version);
  out.push_back(static_cast<std::uint8_t>(count >> 8));
  out.push_back(static_cast<std::uint8_t>(count));
  for (std::size_t i = 0; i < count; ++i) {
    out.push_back(static_cast<std::uint8_t>(r.entries[i].size()));
    out.insert(out.end(), r.entries[i].begin(), r.entries[i].end());
  }
}

void put_close(Bytes& out, const CloseInfo& c) {
  put_header(out, Type::Close, 0, 0, 1 + reason_len(c.reason));
  out.push_back(static_cast<std::uint8_t>(c.code));
  append_reason(out, c.reason);
}

}  // namespace ferry::frame

// Link frames: what travels inside each decrypted Noise transport message (docs/protocol.md).
//
//    0        1        2                 6        8
//   +--------+--------+-----------------+--------+------------------+
//   |  type  | flags  | stream id (be32)| length |  payload[length] |
//   +--------+--------+-----------------+--------+------------------+
//
// One transport message holds one or more whole frames; a frame never spans two messages, so a
// message decrypts into frames with no state carried between messages.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/codec/byte_reader.hpp"
#include "common/codec/target.hpp"
#include "common/result.hpp"

namespace ferry::frame {

inline constexpr std::size_t kHeaderBytes = 8;
// A Noise message is at most 65535 bytes including its 16-byte tag.
inline constexpr std::size_t kMaxRecordPlaintext = 65535 - 16;
inline constexpr std::size_t kMaxPayload = kMaxRecordPlaintext - kHeaderBytes;
inline constexpr std::size_t kMaxReasonBytes = 255;

enum class Type : std::uint8_t {
  Open = 0x01,         // agent -> relay: stream id, receive window, target
  OpenResult = 0x02,   // relay -> agent: outcome, receive window, reason text
  Data = 0x03,         // payload bytes; flag FIN ends this direction (may carry no bytes)
  Window = 0x04,       // credit increment and the cumulative count of bytes delivered
  Reset = 0x05,        // abort a stream in both directions
  Ping = 0x06,         // 8 opaque bytes; flag ACK marks the answer
  GoAway = 0x07,       // no new streams above last id; existing ones finish
  KeyUpdate = 0x08,    // the last frame under the old send key; see link/key_schedule
  Rehandshake = 0x09,  // a Noise IK message of an in-link handshake
  Close = 0x0A,        // authenticated end of the link
  // Version 2, on a link that resumes a session (docs/protocol.md "Stream resumption"):
  Resume = 0x0B,      // a stream's state after a lost link: what arrived, how much more may come
  ResumeDone = 0x0C,  // stream 0: every RESUME of this side was sent
  // To an agent whose message 1 said it takes them (docs/protocol.md 4.14):
  Routes = 0x0D,  // relay -> agent, stream 0: the names and networks to send through the office
};

inline constexpr std::uint8_t kFlagFin = 0x01;
inline constexpr std::uint8_t kFlagAck = 0x01;
// WINDOW on a resumable stream: the peer's FIN arrived (its last byte and the FIN are acknowledged).
inline constexpr std::uint8_t kFlagFinReceived = 0x01;
// RESUME flags: the stream was accepted (the relay's OPEN_RESULT Ok, which may have been lost); the
// peer's FIN arrived; the stream is over on this side (both FINs crossed, everything acknowledged),
// so the peer may forget it too.
inline constexpr std::uint8_t kResumeOpened = 0x01;
inline constexpr std::uint8_t kResumeFinReceived = 0x02;
inline constexpr std::uint8_t kResumeCompleted = 0x04;

// The outcome of an OPEN, as the relay saw it. The agent maps it to SOCKS REP codes and HTTP statuses.
enum class OpenCode : std::uint8_t {
  Ok = 0,
  Refused = 1,  // the target refused the connection (RST)
  HostUnreachable = 2,
  NetworkUnreachable = 3,
  Timeout = 4,          // the dial timed out
  Denied = 5,           // the relay's policy denied the target; reason names the rule
  NameNotResolved = 6,  // the relay could not resolve the name
  Limit = 7,            // a limit at the relay (streams per agent, file descriptors)
  Failure = 8,          // anything else
};
const char* open_code_name(OpenCode c) noexcept;

enum class ResetCode : std::uint8_t {
  Cancel = 0,  // the local side went away
  ProtocolError =
      1,  // the owner found the stream's bytes unusable (a peer breaking the link protocol closes the link)
  IdleTimeout = 2,
  Shutdown = 3,     // the link is going away
  TargetError = 4,  // the target connection failed mid-stream
  Denied = 5,       // a reload's policy no longer allows the stream's target
};
// "cancelled", "idle timeout", ...: for logs and the user.
const char* reset_code_name(ResetCode c) noexcept;

enum class KeyUpdateKind : std::uint8_t { Rekey = 0, NewHandshake = 1 };

enum class CloseCode : std::uint8_t {
  Normal = 0,
  ProtocolError = 1,
  Timeout = 2,
  Shutdown = 3,
  Revoked = 4,
  // The relay already holds as many links of this agent's key as it admits (kMaxLinksPerAgent):
  // the agent says so and does not retry at once. A peer that predates it reads ProtocolError.
  Limit = 5,
};

struct Frame {
  Type type;
  std::uint8_t flags;
  std::uint32_t stream;
  ByteSpan payload;  // views the caller's buffer
};

// Decodes one frame from the front of a decrypted record. A record holds whole frames only, so a
// short frame is malformed rather than "need more". Unknown types are malformed: a peer that speaks a
// newer version must have agreed on it in the handshake.
Result<Frame> decode(ByteSpan in, std::size_t& used);

struct Open {
  std::uint32_t window;
  Target target;
};
struct OpenResult {
  OpenCode code;
  std::uint32_t window;
  std::string reason;
};
struct WindowUpdate {
  std::uint32_t increment;
  std::uint64_t delivered;  // cumulative bytes handed to the consumer (room for stream resumption)
};
// A stream's receiving side, sent by each end after a lost link: `received` counts the stream bytes
// that arrived, in order (the peer sends again from there); `allowed` is the offset up to which the
// peer may send (received plus the credit left).
struct Resume {
  std::uint64_t received;
  std::uint64_t allowed;
};
struct GoAway {
  std::uint32_t last_stream;
  CloseCode code;
  std::string reason;
};
struct CloseInfo {
  CloseCode code;
  std::string reason;
};
// The relay's route list (common/routes/route_list.hpp): a version, then each route's canonical text.
struct Routes {
  std::uint32_t version = 0;
  std::vector<std::string> entries;  // each 1..255 printable ASCII bytes, no space
  friend bool operator==(const Routes&, const Routes&) = default;
};
// The largest ROUTES payload: 4 + 2 + the entries, each 1 + its length.
inline constexpr std::size_t kMaxRoutesPayload = 60 * 1024;
// Bytes a list takes in a ROUTES payload (compare with kMaxRoutesPayload before sending).
std::size_t routes_payload_size(const std::vector<std::string>& entries) noexcept;

Result<Open> parse_open(ByteSpan payload);
Result<OpenResult> parse_open_result(ByteSpan payload);
Result<WindowUpdate> parse_window(ByteSpan payload);
Result<Resume> parse_resume(ByteSpan payload);
Result<ResetCode> parse_reset(ByteSpan payload);
Result<std::uint64_t> parse_ping(ByteSpan payload);
Result<GoAway> parse_goaway(ByteSpan payload);
Result<KeyUpdateKind> parse_key_update(ByteSpan payload);
Result<CloseInfo> parse_close(ByteSpan payload);
Result<Routes> parse_routes(ByteSpan payload);

// Encoders append one whole frame to `out`.
void put_header(Bytes& out, Type t, std::uint8_t flags, std::uint32_t stream, std::size_t len);
void put_open(Bytes& out, std::uint32_t stream, const Open& o);
void put_open_result(Bytes& out, std::uint32_t stream, const OpenResult& r);
void put_data(Bytes& out, std::uint32_t stream, ByteSpan data, bool fin);
void put_window(Bytes& out, std::uint32_t stream, const WindowUpdate& w, std::uint8_t flags = 0);
void put_resume(Bytes& out, std::uint32_t stream, std::uint8_t flags, const Resume& r);
void put_resume_done(Bytes& out);
void put_reset(Bytes& out, std::uint32_t stream, ResetCode c);
void put_ping(Bytes& out, std::uint64_t opaque, bool ack);
void put_goaway(Bytes& out, const GoAway& g);
void put_key_update(Bytes& out, KeyUpdateKind k);
void put_rehandshake(Bytes& out, ByteSpan noise_message);
void put_close(Bytes& out, const CloseInfo& c);
// Entries beyond kMaxRoutesPayload are not sent (the relay's configuration refuses such a list).
void put_routes(Bytes& out, const Routes& r);

}  // namespace ferry::frame

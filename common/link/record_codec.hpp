// The link's record layer (docs/protocol.md sections 1 and 9): each Noise message, handshake or
// transport, travels in a record of its own.
//
//    0        2                                                     2 + length
//   +--------+------------------------------------------------------+
//   | length | body: a handshake message (in clear, at most 512)    |
//   | BE16   |   or a transport message: sealed whole link frames   |
//   | 1..    |   + 16-byte tag (at most 65535)                      |
//   +--------+------------------------------------------------------+
//
// Sans-I/O. decode_record() reads one record from the bytes buffered so far; RecordReader cuts records
// out of reads as they arrive and gathers one split across reads; seal_record() and open_record()
// encrypt and decrypt a transport record in place with the CipherState they are given. What a record
// holds, and which keys are current, is the session's business (common/link/key_schedule).
#pragma once

#include <optional>

#include "common/codec/byte_reader.hpp"
#include "common/codec/decoded.hpp"
#include "common/codec/link_frame.hpp"
#include "common/crypto/cipher_state.hpp"
#include "common/result.hpp"

namespace ferry::link {

inline constexpr std::size_t kRecordHeaderBytes = 2;
// A Noise message is at most 65535 bytes, which is also what the 2-byte length can say.
inline constexpr std::size_t kMaxRecordBody = frame::kMaxRecordPlaintext + crypto::kTagBytes;
// Handshake records are small (message 1 is 110 bytes today); anything larger before
// authentication is refused without further work.
inline constexpr std::size_t kMaxHandshakeRecord = 512;

// Until the handshake ends, records hold handshake messages and are held to the smaller limit.
enum class RecordKind { Handshake, Transport };

constexpr std::size_t max_record_body(RecordKind kind) noexcept {
  return kind == RecordKind::Handshake ? kMaxHandshakeRecord : kMaxRecordBody;
}

// One record from the front of `in`: its body, and the bytes it used (header included). The length
// is checked as soon as the header is in, so an empty or oversized record fails before its body
// arrives: a peer cannot make this side wait for, or buffer, a record it will refuse.
Result<Decoded<ByteSpan>> decode_record(ByteSpan in, RecordKind kind);

// Cuts whole records out of a byte stream. A record that lies whole in the read is returned where it
// lies, so it is decrypted in place with no copy. One split across reads is gathered here (at most
// 65537 bytes) and returned from this buffer, where it stays until another split record completes;
// that can only happen in a later read (a split record completes at the start of a read), so spans
// into either kind of record stay valid until the caller's next read.
class RecordReader {
 public:
  // The next record's body, taken from the front of `in`, which moves past the bytes used; or nothing
  // when `in` ran out inside a record, whose bytes are kept for the next call. `kind` sets the limit
  // of a record whose header arrives in this call.
  Result<std::optional<MutByteSpan>> next(MutByteSpan& in, RecordKind kind);
  // Forgets a record half received (the link ended). The last gathered record is kept: spans into it
  // may still be in use.
  void drop_partial() noexcept { partial_.clear(); }
  // Gives back both buffers, keeping a record half received; never while spans into them are in use.
  void trim() noexcept;
  // Bytes of a record half received.
  std::size_t partial_bytes() const noexcept { return partial_.size(); }

 private:
  Bytes partial_;  // a record split across reads, header included
  // The last record gathered in partial_, kept whole: spans into it must outlive the next partial
  // record that the same read starts. The two buffers trade places, so their capacity is reused.
  Bytes done_;
};

// Appends a handshake message as one record; handshake messages are not sealed again.
void append_record(Bytes& out, ByteSpan message);

// Sealing a transport record in place: begin_record() leaves room for the length at the end of `out`
// and returns where the record starts; the caller appends whole frames (at most
// frame::kMaxRecordPlaintext bytes); seal_record() encrypts them where they lie, appends the tag and
// writes the length. It returns the body's size; on failure `out` is cut back to where the record
// began.
std::size_t begin_record(Bytes& out);
inline std::size_t record_plaintext_bytes(const Bytes& out, std::size_t record) noexcept {
  return out.size() - record - kRecordHeaderBytes;
}
Result<std::size_t> seal_record(Bytes& out, std::size_t record, crypto::CipherState& keys);

// Decrypts a transport record's body in place; the plaintext is its front. A forged record leaves the
// keys' nonce where it was and the body zeroed (CipherState::decrypt).
Result<MutByteSpan> open_record(MutByteSpan body, crypto::CipherState& keys);

}  // namespace ferry::link

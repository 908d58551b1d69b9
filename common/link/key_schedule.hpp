// A link's transport keys over its lifetime (docs/protocol.md 8.1). Each direction changes keys on its
// own: the sender announces KEY_UPDATE as the last frame of a record, seals that record with the old
// key and switches after it; the receiver switches once it has handled the record. The change is a
// Noise REKEY (10 minutes or 2^30 bytes after the send key's last change) or the keys of a fresh
// in-link IK handshake, which the initiator starts every hour. Streams never notice.
//
// This type holds the keys in use, those of a finished in-link handshake that wait for their
// KEY_UPDATE, the KEY_UPDATE this side owes and the bytes sealed under the send key, and it seals the
// records whose contents the Outbox chose, so the send key changes exactly after the record that
// announced it. When a REKEY is due by time is LinkTimers' call; by bytes, this type's.
#pragma once

#include <cstdint>
#include <optional>

#include "common/codec/link_frame.hpp"
#include "common/crypto/handshake_ik.hpp"
#include "common/link/record_codec.hpp"

namespace ferry::link {

class KeySchedule {
 public:
  explicit KeySchedule(std::uint64_t rekey_bytes) : rekey_bytes_(rekey_bytes) {}

  // The first handshake's keys, in use in both directions at once.
  void install(crypto::TransportKeys keys);
  // An in-link handshake's keys, for either role: set aside until this side's KEY_UPDATE kind 1 has
  // gone (send) and the peer's has arrived (receive). This side's is queued here; it supersedes a
  // pending REKEY, whose purpose the new keys serve.
  void install_next_keys(crypto::TransportKeys keys);

  crypto::CipherState& send() noexcept { return send_; }
  const crypto::CipherState& send() const noexcept { return send_; }
  crypto::CipherState& recv() noexcept { return recv_; }
  // The latest handshake's hash, first or in-link.
  const crypto::Hash& handshake_hash() const noexcept { return handshake_hash_; }
  // Keys of an in-link handshake wait for a KEY_UPDATE in either direction.
  bool next_keys_pending() const noexcept { return next_send_.has_key() || next_recv_.has_key(); }

  // Queues a KEY_UPDATE; new handshake keys supersede a pending REKEY, never the reverse.
  void request(frame::KeyUpdateKind kind) noexcept;
  // The send key has sealed its share of bytes: time for a REKEY.
  bool send_key_worn() const noexcept { return send_key_bytes_ >= rekey_bytes_; }
  bool key_update_due() const noexcept { return key_update_due_.has_value(); }

  // Building a record (record_codec's begin_record(), then whole frames): the owed KEY_UPDATE goes last
  // into the record when `room` bytes of it are left, and the record's seal() switches the send key.
  // Returns whether it went in.
  bool put_key_update(Bytes& out, std::size_t room);
  struct SealedRecord {
    std::size_t bytes = 0;          // the record's body, tag included
    bool send_key_changed = false;  // the record carried KEY_UPDATE
  };
  // Seals the record begun at `record` under the send key and counts its bytes. `last`: the CLOSE
  // record, after which nothing can be sealed.
  Result<SealedRecord> seal(Bytes& out, std::size_t record, bool last);

  // The peer's KEY_UPDATE frame, which must be the last of its record (`last_in_record`). Its receive
  // key changes once the record's other frames are handled: at peer_record_done().
  Result<void> peer_key_update(ByteSpan payload, bool last_in_record);
  // The peer's record has been handled; returns whether the receive key changed after it. Kind 1
  // before an in-link handshake finished breaks the protocol.
  Result<bool> peer_record_done();

 private:
  void switch_send(frame::KeyUpdateKind kind) noexcept;
  Result<void> switch_recv(frame::KeyUpdateKind kind) noexcept;

  std::uint64_t rekey_bytes_;
  crypto::CipherState send_, recv_;
  crypto::CipherState next_send_, next_recv_;  // keys of a finished in-link handshake, not yet in use
  crypto::Hash handshake_hash_{};
  std::optional<frame::KeyUpdateKind> key_update_due_;
  std::optional<frame::KeyUpdateKind> key_update_in_record_;  // put into the record not yet sealed
  std::optional<frame::KeyUpdateKind> peer_key_update_;       // in the peer's record being handled
  std::uint64_t send_key_bytes_ = 0;
};

}  // namespace ferry::link

#include "common/link/key_schedule.hpp"

namespace ferry::link {

void KeySchedule::install(crypto::TransportKeys keys) {
  send_ = std::move(keys.send);
  recv_ = std::move(keys.recv);
  handshake_hash_ = keys.handshake_hash;
  send_key_bytes_ = 0;
}

void KeySchedule::install_next_keys(crypto::TransportKeys keys) {
  next_send_ = std::move(keys.send);
  next_recv_ = std::move(keys.recv);
  handshake_hash_ = keys.handshake_hash;
  request(frame::KeyUpdateKind::NewHandshake);
}

void KeySchedule::request(frame::KeyUpdateKind kind) noexcept {
  if (!key_update_due_ || kind == frame::KeyUpdateKind::NewHandshake) key_update_due_ = kind;
}

bool KeySchedule::put_key_update(Bytes& out, std::size_t room) {
  if (!key_update_due_ || room < frame::kHeaderBytes + 1) return false;
  frame::put_key_update(out, *key_update_due_);
  key_update_in_record_ = key_update_due_;
  key_update_due_.reset();
  return true;
}

Result<KeySchedule::SealedRecord> KeySchedule::seal(Bytes& out, std::size_t record, bool last) {
  auto bytes = seal_record(out, record, send_);
  if (!bytes) return bytes.error();
  send_key_bytes_ += *bytes;
  const bool switching = key_update_in_record_.has_value();
  if (switching) switch_send(*key_update_in_record_);
  key_update_in_record_.reset();
  if (last) send_ = crypto::CipherState{};
  return SealedRecord{*bytes, switching};
}

void KeySchedule::switch_send(frame::KeyUpdateKind kind) noexcept {
  if (kind == frame::KeyUpdateKind::Rekey) {
    send_.rekey();
  } else {
    send_ = std::move(next_send_);
  }
  send_key_bytes_ = 0;
}

Result<void> KeySchedule::peer_key_update(ByteSpan payload, bool last_in_record) {
  auto kind = frame::parse_key_update(payload);
  if (!kind) return kind.error();
  if (!last_in_record) return fail(Errc::Malformed, "KEY_UPDATE is not the last frame of its record");
  peer_key_update_ = *kind;
  return {};
}

Result<bool> KeySchedule::peer_record_done() {
  if (!peer_key_update_) return false;
  const frame::KeyUpdateKind kind = *peer_key_update_;
  peer_key_update_.reset();
  if (auto ok = switch_recv(kind); !ok) return ok.error();
  return true;
}

Result<void> KeySchedule::switch_recv(frame::KeyUpdateKind kind) noexcept {
  if (kind == frame::KeyUpdateKind::Rekey) {
    recv_.rekey();
    return {};
  }
  if (!next_recv_.has_key()) return fail(Errc::Malformed, "KEY_UPDATE to keys never agreed");
  recv_ = std::move(next_recv_);
  return {};
}

}  // namespace ferry::link

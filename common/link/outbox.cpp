#include "common/link/outbox.hpp"

namespace ferry::link {

Result<void> Outbox::put_handshake(ByteSpan message, bool in_link) {
  if (in_link) return control_.push([&](Bytes& b) { frame::put_rehandshake(b, message); });
  append_record(handshake_, message);
  return {};
}

void Outbox::close(const frame::CloseInfo& info) {
  control_.append([&](Bytes& b) { frame::put_close(b, info); });
  close_queued_ = true;
}

bool Outbox::has_output(const KeySchedule& keys, const Mux* streams) const noexcept {
  if (!handshake_.empty() || close_queued_) return true;
  return streams && (!control_.empty() || keys.key_update_due() || streams->has_output());
}

void Outbox::take_handshake(Bytes& out) {
  out.insert(out.end(), handshake_.begin(), handshake_.end());
  handshake_.clear();
}

Result<Outbox::Record> Outbox::seal_next(Bytes& out, KeySchedule& keys, Mux* streams) {
  const std::size_t record = begin_record(out);
  // Control frames lead; each is small and whole.
  control_.move_to(out, frame::kMaxRecordPlaintext);
  const bool closing = close_queued_ && control_.empty();
  if (!closing && streams) {
    const std::size_t room = frame::kMaxRecordPlaintext - record_plaintext_bytes(out, record);
    // KEY_UPDATE goes after every queued control frame (a REHANDSHAKE reply must precede it) and ends
    // its record; until it has gone, stream data waits so it is sealed under the new key.
    if (!keys.key_update_due()) {
      streams->produce(out, room);
    } else if (control_.empty()) {
      keys.put_key_update(out, room);
    }
  }
  if (record_plaintext_bytes(out, record) == 0) {
    out.resize(record);
    return Record{};
  }
  auto sealed = keys.seal(out, record, closing);
  if (!sealed) return sealed.error();
  if (closing) close_queued_ = false;
  return Record{true, sealed->send_key_changed, closing};
}

}  // namespace ferry::link

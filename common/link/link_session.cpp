#include "common/link/link_session.hpp"

#include "common/link/close_code.hpp"

namespace ferry::link {

using frame::Type;

LinkSession::LinkSession(LinkConfig config, LinkEvents& events)
    : cfg_(std::move(config)),
      events_(&events),
      mux_(cfg_.role == LinkConfig::Role::Initiator ? Mux::Side::Initiator : Mux::Side::Responder, cfg_.mux,
           events, [this] { wake(); }),
      keys_(cfg_.rekey_bytes),
      timers_(timer_settings(cfg_)),
      outbox_(cfg_.mux.max_control_bytes),
      handshakes_(cfg_, outbox_, keys_, timers_) {}

void LinkSession::adopt_mux(std::unique_ptr<Mux> mux) { mux_.adopt(std::move(mux), established()); }

void LinkSession::set_owner(LinkEvents& events, MuxSlot::KeepFn keep_streams) {
  events_ = &events;
  mux_.set_events(events);
  cfg_.keep_streams = std::move(keep_streams);
}

void LinkSession::wake() {
  if (cfg_.wake) cfg_.wake();
}

void LinkSession::start(Instant now) {
  if (state_ != State::Idle) return;
  now_ = now;
  state_ = State::Handshaking;
  timers_.started(now);
  handshake_begun_ = true;
  if (cfg_.role == LinkConfig::Role::Initiator) offer_handshake();
}

void LinkSession::receive(MutByteSpan data, Instant now) {
  if (state_ == State::Closed || state_ == State::Idle) return;
  now_ = now;
  counters_.wire_bytes_received += data.size();
  while (state_ != State::Closed && !data.empty()) {
    const auto kind = state_ == State::Handshaking ? RecordKind::Handshake : RecordKind::Transport;
    auto record = records_.next(data, kind);
    if (!record) return fail_link(record.error(), false);
    if (!*record) break;
    process_record(**record, now);
  }
  close_if_drained();  // the peer's FIN may have ended the last stream
}

void LinkSession::trim() noexcept { records_.trim(); }

void LinkSession::process_record(MutByteSpan record, Instant now) {
  ++counters_.records_received;
  if (state_ == State::Handshaking) {
    auto keys = handshakes_.take(record);
    if (!keys) return fail_link(keys.error(), false);
    return become_established(std::move(*keys), now);
  }
  if (state_ == State::Established) on_transport(record, now);
}

void LinkSession::become_established(crypto::TransportKeys keys, Instant now) {
  keys_.install(std::move(keys));
  state_ = State::Established;
  if (handshakes_.handshake().resumable()) mux_->set_resumable();
  if (handshakes_.handshake().early_data()) mux_->set_early_data();
  timers_.established(now);  // the peer's handshake message authenticated
  queue_ping(now);           // a first one measures the RTT that window growth needs
  events_->on_established(handshakes_.handshake().peer());
}

void LinkSession::on_transport(MutByteSpan record, Instant now) {
  auto opened = open_record(record, keys_.recv());
  if (!opened) return fail_link(opened.error(), false);
  timers_.heard(now);  // authenticated records only
  ByteSpan plain = *opened;
  while (!plain.empty() && state_ == State::Established) {
    std::size_t used = 0;
    auto f = frame::decode(plain, used);
    if (!f) return fail_link(f.error(), true);
    plain = plain.subspan(used);
    if (auto ok = on_frame(*f, plain.empty(), now); !ok) return fail_link(ok.error(), true);
  }
  if (state_ != State::Established) return;
  auto switched = keys_.peer_record_done();
  if (!switched) return fail_link(switched.error(), true);
  if (*switched) ++counters_.rekeys_received;
  if (mux_->has_output()) wake();
}

Result<void> LinkSession::on_frame(const frame::Frame& f, bool last_in_record, Instant now) {
  switch (f.type) {
    case Type::KeyUpdate:
      return keys_.peer_key_update(f.payload, last_in_record);
    case Type::Ping:
      return on_ping(f, now);
    case Type::Rehandshake: {
      if (auto ok = handshakes_.on_rehandshake(f.payload, now); !ok) return ok;
      ++counters_.rehandshakes;
      wake();
      return {};
    }
    case Type::Routes: {
      if (cfg_.role != LinkConfig::Role::Initiator || !cfg_.takes_routes)
        return fail(Errc::Malformed, "ROUTES to a peer that did not ask for them");
      auto routes = frame::parse_routes(f.payload);
      if (!routes) return routes.error();
      events_->on_routes(*routes);
      return {};
    }
    case Type::Close: {
      auto c = frame::parse_close(f.payload);
      if (!c) return c.error();
      end(closed_by_peer(c->code));
      return {};
    }
    default:
      return mux_->on_frame(f);
  }
}

Result<void> LinkSession::on_ping(const frame::Frame& f, Instant now) {
  auto sent = frame::parse_ping(f.payload);
  if (!sent) return sent.error();
  if (f.flags & frame::kFlagAck) {
    if (auto rtt = timers_.ping_answered(*sent, now)) mux_->set_rtt(*rtt);
    if (timers_.probe_answered(*sent)) events_->on_alive();
    return {};
  }
  auto queued = outbox_.control().push([&](Bytes& b) { frame::put_ping(b, *sent, true); });
  wake();
  return queued;
}

void LinkSession::send_routes(const frame::Routes& routes) {
  if (state_ != State::Established || cfg_.role != LinkConfig::Role::Responder || !peer_takes_routes())
    return;
  // Bounded like a PING of the timer: an agent that reads nothing must not collect a list per reload.
  auto queued = outbox_.control().push([&](Bytes& b) { frame::put_routes(b, routes); });
  if (!queued) return fail_link(queued.error(), true);
  wake();
}

void LinkSession::queue_ping(Instant now) {
  outbox_.control().append(
      [&](Bytes& b) { frame::put_ping(b, static_cast<std::uint64_t>(now.count()), false); });
  timers_.pinged(now);
  wake();
}

void LinkSession::queue_key_update(frame::KeyUpdateKind kind) {
  keys_.request(kind);
  wake();
}

void LinkSession::offer_handshake() {
  if (auto sent = handshakes_.offer(state_ == State::Established); !sent)
    return fail_link(sent.error(), true);
  wake();
}

void LinkSession::tick(Instant now) {
  now_ = now;
  if (state_ == State::Handshaking) {
    if (timers_.handshake_overdue(now))
      fail_link(fail(Errc::Timeout, "the handshake did not finish in time"), false);
    return;
  }
  if (state_ != State::Established) return;
  timers_.ticked(now);
  const LinkTimers::Due due = timers_.due(now);
  if (due.peer_silent) return fail_link(fail(Errc::Timeout, "keepalive: nothing heard from the peer"), false);
  if (due.probe_failed) return fail_link(fail(Errc::Timeout, "a probe went unanswered for 2 s"), false);
  if (due.ping || due.probe) {
    // Bounded here, unlike the first and a probe's: a peer that reads nothing must not grow the queue.
    auto queued = outbox_.control().push(
        [&](Bytes& b) { frame::put_ping(b, static_cast<std::uint64_t>(now.count()), false); });
    if (!queued) return fail_link(queued.error(), true);
    timers_.pinged(now);
    if (due.probe) timers_.probing(now);
    wake();
  }
  if (due.rekey) queue_key_update(frame::KeyUpdateKind::Rekey);
  mux_->acknowledge();  // resumable links: what arrived, so the peer frees what it kept
  mux_->poll_budget();  // another link of the agent may have given bytes back
  if (state_ != State::Established) return;
  // Not before both KEY_UPDATEs of the last one have passed: the relay refuses an overlap.
  if (due.rehandshake && !handshakes_.pending()) offer_handshake();
  if (due.keys_expired) fail_link(fail(Errc::Timeout, "the peer did not renew its keys"), true);
}

void LinkSession::probe(Instant now) {
  now_ = now;
  if (state_ != State::Established || timers_.probing()) return;
  queue_ping(now);
  timers_.probing(now);
}

void LinkSession::close(frame::CloseCode code, std::string_view reason) {
  if (state_ == State::Established) say_close(frame::CloseInfo{code, std::string(reason)});
  end(fail(Errc::Closed, "closed by this side"));
}

void LinkSession::close_when_streams_end(frame::CloseCode code, std::string_view reason) {
  if (state_ != State::Established) return close(code, reason);
  close_when_drained_ = frame::CloseInfo{code, std::string(reason)};
  close_if_drained();
}

bool LinkSession::close_if_drained() {
  if (!close_when_drained_ || state_ != State::Established) return false;
  if (mux_->stream_count() > 0 || mux_->has_output()) return false;
  const frame::CloseInfo c = std::move(*close_when_drained_);
  close_when_drained_.reset();
  close(c.code, c.reason);
  return true;
}

void LinkSession::abort(const Error& why) { end(why); }

void LinkSession::fail_link(const Error& why, bool tell_peer) {
  if (tell_peer && state_ == State::Established && keys_.send().has_key())
    say_close(frame::CloseInfo{close_code_for(why.code), why.what});
  end(why);
}

// The owner is woken before it hears of the end, so the CLOSE record still gets written.
void LinkSession::say_close(const frame::CloseInfo& info) {
  outbox_.close(info);
  wake();
}

void LinkSession::end(const Error& why) {
  if (state_ == State::Closed) return;
  // Lost, not closed by either side: a resumable link's streams wait for the next link. A protocol
  // error or a refusal ends them with the link, as a CLOSE does.
  const bool lost = state_ == State::Established &&
                    (why.code == Errc::Timeout || why.code == Errc::Truncated || why.code == Errc::Io);
  state_ = State::Closed;
  handshakes_.abandon();
  records_.drop_partial();
  mux_.end(lost, cfg_.keep_streams);
  if (cfg_.on_end) cfg_.on_end();
  events_->on_closed(why);
}

void LinkSession::eof() { end(fail(Errc::Truncated, "the connection ended without an authenticated close")); }

bool LinkSession::has_output() const noexcept {
  return outbox_.has_output(keys_, state_ == State::Established ? mux_.get() : nullptr);
}

void LinkSession::produce(Bytes& out, std::size_t max_bytes) {
  produce_records(out, max_bytes);
  // The last stream's FIN just left: the deferred CLOSE follows it in the same write.
  if (close_if_drained()) produce_records(out, frame::kMaxRecordPlaintext);
}

void LinkSession::produce_records(Bytes& out, std::size_t max_bytes) {
  const std::size_t start = out.size();
  outbox_.take_handshake(out);
  out.reserve(out.size() + max_bytes + kRecordHeaderBytes + kMaxRecordBody);
  while (out.size() - start < max_bytes && keys_.send().has_key() && has_output()) {
    if (keys_.send_key_worn()) queue_key_update(frame::KeyUpdateKind::Rekey);
    auto record = outbox_.seal_next(out, keys_, state_ == State::Established ? mux_.get() : nullptr);
    if (!record) return fail_link(record.error(), false);
    if (!record->sealed) break;
    ++counters_.records_sent;
    timers_.sent(now_);
    if (record->send_key_changed) {
      timers_.send_key_changed(now_);
      ++counters_.rekeys_sent;
    }
    if (record->last) break;
  }
  counters_.wire_bytes_sent += out.size() - start;
}

}  // namespace ferry::link

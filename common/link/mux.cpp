#include "common/link/mux.hpp"

#include <algorithm>

namespace ferry::link {

using frame::OpenCode;
using frame::ResetCode;
using frame::Type;

Mux::Mux(Side side, MuxLimits limits, LinkEvents& events, std::function<void()> wake)
    : side_(side),
      limits_(limits),
      wake_(std::move(wake)),
      events_(events),
      pool_(limits.pooled_chunks),
      control_(limits.max_control_bytes),
      next_id_(side == Side::Initiator ? (limits.first_stream_id | 1) : 2) {}

Mux::~Mux() {
  if (!budget_) return;
  for (auto& [id, st] : streams_) budget_->give(st->charged);
}

void Mux::set_budget(std::shared_ptr<BufferBudget> budget) {
  if (budget_ || !streams_.empty()) return;  // once, before any stream holds bytes
  budget_ = std::move(budget);
}

void Mux::recharge(Stream& s) {
  if (!budget_) return;
  const std::uint64_t held = std::uint64_t{s.recv_window} + s.sendq.footprint();
  if (held == s.charged) return;  // most calls: a frame left a chunk that still holds bytes
  if (held > s.charged)
    budget_->take(held - s.charged);
  else
    budget_->give(s.charged - held);
  s.charged = held;
}

// Near the end of the budget a stream with bytes still queued reads no more, and one with an empty
// queue reads in small pieces (SocketPipe asks budget_tight()): each reader then adds at most a
// small chunk before the budget stops it.
bool Mux::budget_allows_reading(const Stream& s) const noexcept {
  if (!budget_) return true;
  if (budget_->spent()) return false;
  return !budget_->tight() || s.queued() == 0;
}

// The credit left when the OPEN's answer names a window, counted from the stream's first byte on
// both sides, so early data still in flight when the answer crossed it is counted alike: the window,
// but at least the early data's allowance the stream started with, less what was sent already.
std::uint64_t Mux::stream_credit(const Stream& s, std::uint32_t window, std::uint64_t so_far) noexcept {
  const std::uint64_t total = s.early ? std::max(window, kEarlyDataBytes) : window;
  return total - std::min(total, so_far);
}

Mux::Stream* Mux::find(StreamId id) {
  auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : it->second.get();
}

const Mux::Stream* Mux::find(StreamId id) const {
  auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : it->second.get();
}

std::size_t Mux::queued(StreamId id) const {
  const Stream* s = find(id);
  return s ? s->queued() : 0;
}

std::uint32_t Mux::recv_window(StreamId id) const {
  const Stream* s = find(id);
  return s ? s->recv_window : 0;
}

bool Mux::is_ready(const Stream& s) const noexcept {
  if ((!s.opened && !s.early) || s.fin_sent) return false;
  if (suspended_ && !s.resume_seen) return false;  // where to start comes with the peer's RESUME
  if (s.queued() > 0) return s.send_credit > 0;
  return s.fin_queued;  // a bare FIN needs no credit
}

void Mux::schedule(StreamId id, Stream& s) {
  if (!s.in_ready && is_ready(s)) {
    s.in_ready = true;
    ready_.push_back(id);
    wake();
  }
}

void Mux::erase(StreamId id) {
  auto it = streams_.find(id);
  if (it == streams_.end()) return;
  growth_used_ -= it->second->recv_window - std::min(it->second->recv_window, limits_.initial_window);
  it->second->sendq.clear(pool_);
  if (budget_) budget_->give(it->second->charged);
  streams_.erase(it);  // a stale id left in ready_ is skipped by produce()
  if (!unanswered_.empty()) unanswered_.erase(id);
}

void Mux::bind(StreamId id, StreamHandler* handler) {
  if (Stream* s = find(id)) s->handler = handler;
}

void Mux::report_open_result(StreamId id, StreamHandler* h, const frame::OpenResult& r) {
  if (h)
    h->on_open_result(r);
  else
    events_.on_open_result(id, r);
}

void Mux::report_reset(StreamId id, StreamHandler* h, bool answered, ResetCode code) {
  if (!answered) {
    const char* why = code == ResetCode::Shutdown ? "the link to the relay went down"
                                                  : "the relay reset the stream before it answered";
    return report_open_result(id, h, frame::OpenResult{OpenCode::Failure, 0, why});
  }
  if (h)
    h->on_reset(code);
  else
    events_.on_reset(id, code);
}

void Mux::erase_if_done(StreamId id, Stream& s) {
  if (limits_.resumable ? ended_cleanly(s) : s.fin_sent && s.fin_received) erase(id);
}

bool Mux::ended_cleanly(const Stream& s) const noexcept {
  return s.fin_sent && s.fin_acked && s.sendq.retained() == 0 && s.fin_received && s.fin_reported &&
         s.reported == s.received;
}

void Mux::queue_window(StreamId id, Stream& s, std::uint32_t increment) {
  std::uint8_t flags = 0;
  if (limits_.resumable && s.fin_received) {
    flags = frame::kFlagFinReceived;
    s.fin_reported = true;
  }
  s.reported = s.delivered;
  control_.append([&](Bytes& b) {
    frame::put_window(b, id, frame::WindowUpdate{increment, s.delivered}, flags);
  });
}

bool Mux::used_id(StreamId id) const noexcept {
  const bool ours = (id % 2 == 1) == (side_ == Side::Initiator);
  return ours ? id < next_id_ : id <= highest_peer_id_;
}

Result<StreamId> Mux::open(const Target& target) {
  if (side_ != Side::Initiator) return fail(Errc::Unsupported, "only the initiator opens streams");
  if (draining()) return fail(Errc::Closed, "the link is draining (GOAWAY)");
  if (streams_.size() >= limits_.max_streams) return fail(Errc::Limit, "too many streams on this link");
  if (next_id_ > kMaxStreamId) return fail(Errc::Limit, "stream ids exhausted on this link");
  if (target.kind == Target::Kind::Name && (target.name.empty() || target.name.size() > 255))
    return fail(Errc::Malformed, "a host name must be 1 to 255 bytes");
  const StreamId id = next_id_;
  next_id_ += 2;
  auto s = std::make_unique<Stream>();
  s->recv_window = limits_.initial_window;
  s->recv_allowed = limits_.initial_window;
  if (limits_.early_data) {
    // Credit the relay gave in advance: the first bytes go right behind the OPEN.
    s->early = true;
    s->send_credit = kEarlyDataBytes;
  }
  // Suspended, the link is resuming: OPENs lost with the old link go again once the peer's RESUME_DONE
  // names the streams it knows, and the relay takes ids in order only (4.12), so this higher id waits
  // for them and goes out with them.
  const bool wait_for_resume = limits_.resumable && suspended_;
  if (limits_.resumable) {
    s->sendq.retain();
    s->resume_seen = !wait_for_resume;  // else the peer's RESUME_DONE decides when its OPEN goes
    unanswered_.emplace(id, target);    // the OPEN may be lost with the link: it goes again
  }
  streams_.emplace(id, std::move(s));
  if (!wait_for_resume)
    control_.append([&](Bytes& b) { frame::put_open(b, id, frame::Open{limits_.initial_window, target}); });
  ++stats_.streams_opened;
  wake();
  return id;
}

void Mux::accept(StreamId id, OpenCode code, std::string_view reason) {
  Stream* s = find(id);
  if (!s || s->opened || side_ != Side::Responder) return;
  // With a budget, the window is decided now, not at the OPEN: the dial took a while, and the agent's
  // other streams may have filled it meanwhile. Below an eighth of it the stream starts with no
  // credit and gets its window (a WINDOW) once the agent's streams give bytes back.
  std::uint32_t window = 0;
  if (code == OpenCode::Ok) {
    window = budget_ ? budget_->open_window(limits_.initial_window) : limits_.initial_window;
    s->recv_window = window;
    s->recv_allowed = stream_credit(*s, window, s->received);
    recharge(*s);
    if (window == 0) {
      starved_.push_back(id);
      ++stats_.streams_starved;
    }
  }
  control_.append([&](Bytes& b) {
    frame::put_open_result(b, id, frame::OpenResult{code, window, std::string(reason)});
  });
  wake();
  if (code != OpenCode::Ok) {
    erase(id);
    return;
  }
  s->opened = true;
  schedule(id, *s);
}

bool Mux::send(StreamId id, ByteSpan bytes) {
  Stream* s = find(id);
  if (!s || s->fin_queued) return true;
  s->sendq.append(bytes, pool_);
  return commit_send(id, 0);  // nothing reserved: the scheduling, the budget and the watermark
}

MutByteSpan Mux::send_space(StreamId id) {
  Stream* s = find(id);
  if (!s || s->fin_queued) return {};
  return s->sendq.tail_space(pool_);
}

bool Mux::commit_send(StreamId id, std::size_t n) {
  Stream* s = find(id);
  if (!s || s->fin_queued) return true;
  s->sendq.commit(n, pool_);
  recharge(*s);
  schedule(id, *s);
  if (s->queued() > limits_.send_high_water) {
    s->blocked = true;
    return false;
  }
  if (!budget_allows_reading(*s)) {
    if (!std::exchange(s->budget_blocked, true)) budget_blocked_.push_back(id);
    return false;
  }
  return true;
}

void Mux::finish(StreamId id) {
  Stream* s = find(id);
  if (!s || s->fin_queued) return;
  s->fin_queued = true;
  schedule(id, *s);
}

void Mux::reset(StreamId id, ResetCode code) {
  if (!find(id)) return;
  control_.append([&](Bytes& b) { frame::put_reset(b, id, code); });
  erase(id);
  wake();
}

void Mux::set_rtt(Millis rtt) noexcept {
  rtt_ = rtt;
  recent_rtt_[rtt_samples_++ % kRttSamples] = rtt;
}

std::uint64_t Mux::window_cap() const noexcept {
  std::uint64_t micros = 0;
  if (path_min_rtt_) {
    micros = static_cast<std::uint64_t>(std::max<std::int64_t>(0, path_min_rtt_->count()));
  } else if (rtt_samples_ > 0) {
    const auto end = recent_rtt_.begin() + static_cast<std::ptrdiff_t>(std::min(rtt_samples_, kRttSamples));
    // Whole milliseconds from a cached loop clock: a 1.9 ms path reads 1 ms, so round up.
    micros = (static_cast<std::uint64_t>(std::min_element(recent_rtt_.begin(), end)->count()) + 1) * 1000;
  }
  const std::uint64_t per_rtt = limits_.window_per_rtt_ms * std::max<std::uint64_t>(micros, 1000) / 1000;
  return std::min<std::uint64_t>(limits_.max_window, per_rtt);
}

void Mux::consumed(StreamId id, std::size_t n, Instant now) {
  Stream* s = find(id);
  if (!s || n == 0) return;
  s->unacked += n;
  s->delivered += n;
  if (s->fin_received || s->unacked < s->recv_window / 2) return;
  // Half the window went in less than about two round trips: the window, not the reader, is the
  // bottleneck. Grow it, from the link's budget. (+2 ms: on loopback the RTT rounds to 0 ms.)
  std::uint64_t grow = 0;
  const std::uint64_t cap = window_cap();
  if (now - s->last_grant <= 2 * rtt_ + Millis(2) && s->recv_window < cap) {
    // The link's growth budget counts windows above the initial one (a stream that started small
    // under the agent's budget grows up to it for free), the agent's budget every byte.
    auto above_initial = [this](std::uint64_t w) {
      return w > limits_.initial_window ? w - limits_.initial_window : 0;
    };
    const std::uint64_t below_initial =
        limits_.initial_window - std::min(s->recv_window, limits_.initial_window);
    grow = std::min<std::uint64_t>({s->recv_window, cap - s->recv_window,
                                    below_initial + limits_.link_growth_budget - growth_used_,
                                    budget_ ? budget_->growth_room() : UINT64_MAX});
    growth_used_ += above_initial(s->recv_window + grow) - above_initial(s->recv_window);
    s->recv_window += static_cast<std::uint32_t>(grow);
    recharge(*s);
  }
  const std::uint64_t increment = s->unacked + grow;
  s->recv_allowed += increment;
  s->unacked = 0;
  s->last_grant = now;
  queue_window(id, *s, static_cast<std::uint32_t>(increment));
  wake();
}

void Mux::goaway(std::string_view reason) {
  if (goaway_sent_) return;
  goaway_sent_ = true;
  const StreamId last = side_ == Side::Responder ? highest_peer_id_ : (next_id_ > 2 ? next_id_ - 2 : 0);
  control_.append([&](Bytes& b) {
    frame::put_goaway(b, frame::GoAway{last, frame::CloseCode::Shutdown, std::string(reason)});
  });
  wake();
}

Result<void> Mux::on_frame(const frame::Frame& f) {
  const bool link_wide = f.type == Type::GoAway || f.type == Type::ResumeDone;
  // Link-level frames' stream id is not checked (docs/protocol.md 4.1).
  if (f.stream == 0 && !link_wide) return fail(Errc::Malformed, "a stream frame on stream 0");
  if ((f.type == Type::Resume || f.type == Type::ResumeDone) && !limits_.resumable)
    return fail(Errc::Malformed, "RESUME on a link that did not agree on resumption");
  Result<void> r;
  switch (f.type) {
    case Type::Open:
      r = on_open_frame(f);
      break;
    case Type::OpenResult:
      r = on_open_result_frame(f);
      break;
    case Type::Data:
      r = on_data_frame(f);
      break;
    case Type::Window:
      r = on_window_frame(f);
      break;
    case Type::Reset:
      r = on_reset_frame(f);
      break;
    case Type::GoAway: {
      auto g = frame::parse_goaway(f.payload);
      if (!g) return g.error();
      goaway_received_ = true;
      events_.on_goaway(*g);
      break;
    }
    case Type::Resume:
      r = on_resume_frame(f);
      break;
    case Type::ResumeDone:
      r = on_resume_done_frame();
      break;
    default:
      return fail(Errc::Malformed, "not a stream frame");
  }
  if (!r) return r;
  // Owner calls made since the last frame (accept, consumed) count too.
  return control_.within_bound();
}

Result<void> Mux::on_open_frame(const frame::Frame& f) {
  if (side_ != Side::Responder) return fail(Errc::Malformed, "OPEN from the relay");
  if (f.stream % 2 != 1) return fail(Errc::Malformed, "OPEN with an even stream id");
  if (f.stream > kMaxStreamId) return fail(Errc::Malformed, "OPEN with a stream id above 2^31-1");
  if (f.stream <= highest_peer_id_) return fail(Errc::Malformed, "OPEN with a stream id out of order");
  if (goaway_received_) return fail(Errc::Malformed, "OPEN after the agent's GOAWAY");
  auto o = frame::parse_open(f.payload);
  if (!o) return o.error();
  highest_peer_id_ = f.stream;
  if (goaway_sent_ || streams_.size() >= limits_.max_streams) {
    return control_.push([&](Bytes& b) {
      frame::put_open_result(
          b, f.stream,
          frame::OpenResult{OpenCode::Limit, 0,
                            goaway_sent_ ? "the relay is draining" : "too many streams on this link"});
    });
  }
  auto s = std::make_unique<Stream>();
  s->send_credit = o->window;
  if (limits_.resumable) {
    s->sendq.retain();
    s->resume_seen = true;
  }
  // accept() sets the window, from the agent's budget as it stands after the dial. Until then the
  // stream may receive only the early data the link agreed on, which the owner holds while it dials
  // and the budget counts.
  if (limits_.early_data) {
    s->early = true;
    s->recv_window = kEarlyDataBytes;
    s->recv_allowed = kEarlyDataBytes;
    recharge(*s);
  }
  streams_.emplace(f.stream, std::move(s));
  ++stats_.streams_opened;
  events_.on_open(f.stream, o->target);
  return {};
}

Result<void> Mux::on_open_result_frame(const frame::Frame& f) {
  auto r = frame::parse_open_result(f.payload);
  if (!r) return r.error();
  if (side_ != Side::Initiator) return fail(Errc::Malformed, "OPEN_RESULT from the agent");
  Stream* s = find(f.stream);
  if (!used_id(f.stream)) return fail(Errc::Malformed, "OPEN_RESULT for a stream never opened");
  if (!s) return {};  // reset locally while the relay dialled
  if (s->opened) return fail(Errc::Malformed, "a second OPEN_RESULT");
  unanswered_.erase(f.stream);
  if (r->code != OpenCode::Ok) {
    StreamHandler* h = s->handler;
    erase(f.stream);
    report_open_result(f.stream, h, *r);
    return {};
  }
  s->opened = true;
  s->send_credit = stream_credit(*s, r->window, s->sent);
  schedule(f.stream, *s);
  report_open_result(f.stream, s->handler, *r);
  return {};
}

Result<void> Mux::on_data_frame(const frame::Frame& f) {
  Stream* s = find(f.stream);
  if (!s) {
    if (used_id(f.stream)) return {};  // in flight when we reset it
    return fail(Errc::Malformed, "DATA for a stream never opened");
  }
  // docs/spec.md 8.2: a frame that breaks the protocol closes the link. A peer that overruns credit is broken
  // or hostile, and a link carries one agent's streams only, so nobody else is disturbed. Neither side
  // sends DATA before the open handshake finished, except the agent's early data on a link that agreed
  // on it: the relay holds at most kEarlyDataBytes of it per stream (its credit) while it dials.
  if (!s->opened && !(side_ == Side::Responder && s->early))
    return fail(Errc::Malformed,
                side_ == Side::Initiator ? "DATA before OPEN_RESULT" : "DATA before the stream was accepted");
  if (f.payload.size() > s->recv_allowed) return fail(Errc::Malformed, "DATA beyond the granted credit");
  if (s->fin_received) return fail(Errc::Malformed, "DATA after FIN");
  s->recv_allowed -= f.payload.size();
  s->received += f.payload.size();
  stats_.bytes_received += f.payload.size();
  const bool fin = f.flags & frame::kFlagFin;
  if (fin) s->fin_received = true;
  if (!f.payload.empty()) {
    if (s->handler)
      s->handler->on_data(f.payload);
    else
      events_.on_data(f.stream, f.payload);
  }
  if (fin && (s = find(f.stream)) != nullptr) {  // on_data may have reset the stream
    if (s->handler)
      s->handler->on_fin();
    else
      events_.on_fin(f.stream);
    if ((s = find(f.stream)) != nullptr) erase_if_done(f.stream, *s);
  }
  return {};
}

Result<void> Mux::on_window_frame(const frame::Frame& f) {
  auto w = frame::parse_window(f.payload);
  if (!w) return w.error();
  Stream* s = find(f.stream);
  if (!s) {
    if (used_id(f.stream)) return {};
    return fail(Errc::Malformed, "WINDOW for a stream never opened");
  }
  s->send_credit += w->increment;
  if (limits_.resumable) {
    // What the peer has handed on: kept bytes below it are freed at once.
    if (w->delivered > s->sent) return fail(Errc::Malformed, "WINDOW acknowledges bytes never sent");
    if (w->delivered > s->acked) {
      s->sendq.ack(static_cast<std::size_t>(w->delivered - s->acked), pool_);
      s->acked = w->delivered;
      recharge(*s);
    }
    if (f.flags & frame::kFlagFinReceived) {
      if (!s->fin_sent) return fail(Errc::Malformed, "WINDOW acknowledges a FIN never sent");
      s->fin_acked = true;
    }
    schedule(f.stream, *s);
    erase_if_done(f.stream, *s);
    return {};
  }
  schedule(f.stream, *s);
  return {};
}

Result<void> Mux::on_reset_frame(const frame::Frame& f) {
  auto code = frame::parse_reset(f.payload);
  if (!code) return code.error();
  Stream* s = find(f.stream);
  if (!s) {
    if (used_id(f.stream)) return {};
    return fail(Errc::Malformed, "RESET for a stream never opened");
  }
  StreamHandler* h = s->handler;
  const bool answered = side_ == Side::Responder || s->opened;
  erase(f.stream);
  report_reset(f.stream, h, answered, *code);
  return {};
}

void Mux::produce(Bytes& out, std::size_t budget) {
  const std::size_t start = out.size();
  auto left = [&] { return budget - (out.size() - start); };

  // Control frames first, whole frames only.
  control_.move_to(out, budget);

  // Then one DATA frame per ready stream, in turn, but only once every control frame has gone: a
  // stream's OPEN_RESULT (or a RESET, a WINDOW) may still be queued, and its DATA must not overtake
  // it into an earlier record.
  std::size_t turns = control_.empty() ? ready_.size() : 0;
  while (turns-- > 0 && left() > frame::kHeaderBytes) {
    const StreamId id = ready_.front();
    ready_.pop_front();
    Stream* s = find(id);
    if (!s) continue;
    s->in_ready = false;
    if (!is_ready(*s)) continue;
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(
        {s->queued(), s->send_credit, limits_.max_frame_data, left() - frame::kHeaderBytes}));
    const bool fin = s->fin_queued && n == s->queued();
    if (n == 0 && !fin) {  // no room left in this record: keep its turn
      ready_.push_front(id);
      s->in_ready = true;
      break;
    }
    frame::put_header(out, Type::Data, fin ? frame::kFlagFin : 0, id, n);
    s->sendq.move_to(out, n, pool_);
    recharge(*s);
    s->send_credit -= n;
    s->sent += n;
    stats_.bytes_sent += n;
    if (s->blocked && s->queued() < limits_.send_low_water) {
      s->blocked = false;
      if (!s->budget_blocked) writable_.push_back(id);
    }
    if (s->budget_blocked && !s->blocked && budget_allows_reading(*s)) {
      s->budget_blocked = false;  // its id stays in budget_blocked_ until the next sweep
      writable_.push_back(id);
    }
    if (fin) {
      s->fin_sent = true;
      erase_if_done(id, *s);
      continue;
    }
    schedule(id, *s);
  }

  if (budget_) {
    grant_starved();
    resume_budget_blocked();
  }
  notify_writable();
}

void Mux::poll_budget() {
  if (!budget_) return;
  grant_starved();
  resume_budget_blocked();
  notify_writable();
}

void Mux::grant_starved() {
  while (!starved_.empty()) {
    const std::uint32_t w = budget_->open_window(limits_.initial_window);
    if (w == 0) return;
    const StreamId id = starved_.front();
    starved_.pop_front();
    Stream* s = find(id);
    if (!s || s->fin_received || s->recv_window > 0) continue;
    s->recv_window = w;
    s->recv_allowed += w;
    recharge(*s);
    control_.append([&](Bytes& b) { frame::put_window(b, id, frame::WindowUpdate{w, s->delivered}); });
    wake();
  }
}

// Readers paused by the budget all resume once it is no longer tight (streams that drained their
// queue meanwhile were resumed one by one by produce()).
void Mux::resume_budget_blocked() {
  if (budget_blocked_.empty() || budget_->tight()) {
    if (budget_blocked_.size() > 2 * streams_.size() + 64)  // ids woken one by one, or gone
      std::erase_if(budget_blocked_, [this](StreamId id) {
        const Stream* s = find(id);
        return !s || !s->budget_blocked;
      });
    return;
  }
  for (const StreamId id : budget_blocked_) {
    Stream* s = find(id);
    if (!s || !s->budget_blocked) continue;
    s->budget_blocked = false;
    if (!s->blocked) writable_.push_back(id);
  }
  budget_blocked_.clear();
}

void Mux::notify_writable() {
  // The owner may send() from on_writable(); by now the scheduler's state is consistent. The list
  // keeps its capacity (no allocation per unblocked stream) and is walked by index, so ids added
  // meanwhile (a produce() from inside on_writable) are served by this loop.
  if (notifying_) return;
  notifying_ = true;
  for (std::size_t i = 0; i < writable_.size(); ++i)
    if (Stream* s = find(writable_[i])) {
      if (s->handler)
        s->handler->on_writable();
      else
        events_.on_writable(writable_[i]);
    }
  writable_.clear();
  notifying_ = false;
}

void Mux::trim() { pool_.release_all(); }

void Mux::shutdown_all() {
  struct Ended {
    StreamId id;
    StreamHandler* handler;
    bool answered;
  };
  std::vector<Ended> ended;
  ended.reserve(streams_.size());
  for (auto& [id, s] : streams_) {
    ended.push_back({id, s->handler, side_ == Side::Responder || s->opened});
    s->sendq.clear(pool_);
    if (budget_) budget_->give(s->charged);
  }
  streams_.clear();
  unanswered_.clear();
  ready_.clear();
  starved_.clear();
  budget_blocked_.clear();
  growth_used_ = 0;
  for (const Ended& e : ended) report_reset(e.id, e.handler, e.answered, ResetCode::Shutdown);
}

std::size_t Mux::retained_bytes() const noexcept {
  std::size_t n = 0;
  for (const auto& [id, s] : streams_) n += s->sendq.retained();
  return n;
}

// Stream resumption (docs/protocol.md "Stream resumption"). A lost link leaves every stream as it was;
// what was queued for the peer outside the streams (WINDOWs, OPEN_RESULTs, RESETs) is dropped, since
// the RESUME exchange on the next link says the same again: what arrived, how much more may come,
// which streams were accepted, and, by leaving them out, which are gone.
void Mux::suspend() {
  if (!limits_.resumable) return;
  suspended_ = true;
  control_.clear();
  ready_.clear();
  for (auto& [id, s] : streams_) {
    s->in_ready = false;
    s->resume_seen = false;
  }
}

void Mux::resume() {
  if (!limits_.resumable || !suspended_) return;
  ++stats_.resumes;
  std::vector<StreamId> ids;
  ids.reserve(streams_.size());
  for (const auto& [id, s] : streams_) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  for (StreamId id : ids) {
    Stream& s = *streams_.at(id);
    std::uint8_t flags = 0;
    if (s.opened) flags |= frame::kResumeOpened;
    if (s.fin_received) flags |= frame::kResumeFinReceived;
    control_.append([&](Bytes& b) {
      frame::put_resume(b, id, flags, frame::Resume{s.received, s.received + s.recv_allowed});
    });
    s.reported = s.delivered;  // RESUME says at least as much as a WINDOW would
    s.fin_reported = s.fin_received;
  }
  control_.append([](Bytes& b) { frame::put_resume_done(b); });
  wake();
}

Result<void> Mux::on_resume_frame(const frame::Frame& f) {
  auto r = frame::parse_resume(f.payload);
  if (!r) return r.error();
  Stream* s = find(f.stream);
  if (!s) return {};  // gone here: the peer learns it from our RESUME_DONE
  if (!suspended_ || s->resume_seen) return fail(Errc::Malformed, "a RESUME out of place");
  if (r->received < s->acked || r->received > s->sent)
    return fail(Errc::Malformed, "RESUME names bytes outside those sent");
  // The peer has everything below `received`: free it, and send the rest again.
  s->sendq.ack(static_cast<std::size_t>(r->received - s->acked), pool_);
  s->acked = r->received;
  stats_.resent_bytes += s->sendq.retained();
  s->sendq.rewind();
  s->sent = r->received;
  s->send_credit = r->allowed - r->received;
  if (s->fin_sent) {
    if (f.flags & frame::kResumeFinReceived)
      s->fin_acked = true;
    else
      s->fin_sent = false;  // lost with the link: it goes again after the bytes
  }
  s->resume_seen = true;
  recharge(*s);
  if (side_ == Side::Initiator && !s->opened && (f.flags & frame::kResumeOpened)) {
    // The relay's OPEN_RESULT was lost with the link; this is it.
    unanswered_.erase(f.stream);
    s->opened = true;
    schedule(f.stream, *s);
    report_open_result(
        f.stream, s->handler,
        frame::OpenResult{
            OpenCode::Ok,
            s->send_credit > UINT32_MAX ? UINT32_MAX : static_cast<std::uint32_t>(s->send_credit),
            {}});
    if ((s = find(f.stream)) == nullptr) return {};
  }
  schedule(f.stream, *s);
  erase_if_done(f.stream, *s);
  return {};
}

// Every stream the peer did not name is gone there: one that ended both ways ended cleanly (the peer
// forgot it once all was acknowledged, and only the last acknowledgement was lost); an OPEN the peer
// never answered failed; any other stream is reset.
Result<void> Mux::on_resume_done_frame() {
  if (!suspended_) return fail(Errc::Malformed, "a RESUME_DONE out of place");
  suspended_ = false;
  struct Gone {
    StreamId id;
    StreamHandler* handler;
    bool answered;
    bool clean;
  };
  std::vector<Gone> gone;
  std::vector<StreamId> reopen;
  for (auto& [id, s] : streams_) {
    if (s->resume_seen) continue;
    // Its OPEN was lost with the link (the relay would have named a stream it knew, answered or not):
    // it goes again, and the stream waits for its answer as before. Only early data was sent on it.
    if (unanswered_.count(id)) {
      reopen.push_back(id);
      continue;
    }
    gone.push_back({id, s->handler, side_ == Side::Responder || s->opened, s->fin_sent && s->fin_received});
  }
  std::sort(reopen.begin(), reopen.end());  // the relay takes new ids in order only
  for (StreamId id : reopen) {
    Stream& s = *streams_.at(id);
    s.resume_seen = true;
    if (s.early) {  // its early data went with the lost OPEN: all of it goes again behind the new one
      stats_.resent_bytes += s.sendq.retained();
      s.sendq.rewind();
      s.sent = 0;
      s.send_credit = kEarlyDataBytes;
      s.fin_sent = false;
    }
    control_.append([&](Bytes& b) {
      frame::put_open(b, id, frame::Open{limits_.initial_window, unanswered_.at(id)});
    });
  }
  for (const Gone& g : gone) {
    erase(g.id);
    if (!g.clean) report_reset(g.id, g.handler, g.answered, ResetCode::Shutdown);
  }
  for (auto& [id, s] : streams_) schedule(id, *s);
  notify_writable();
  events_.on_resumed();
  return {};
}

void Mux::acknowledge() {
  if (!limits_.resumable || suspended_) return;
  std::vector<StreamId> done;
  for (auto& [id, s] : streams_) {
    if (s->delivered == s->reported && (s->fin_reported || !s->fin_received)) continue;
    queue_window(id, *s, 0);
    if (ended_cleanly(*s)) done.push_back(id);
  }
  for (StreamId id : done) erase(id);
  if (!done.empty() || control_.size() > 0) wake();
}

}  // namespace ferry::link

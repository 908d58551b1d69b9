#include "agent/link_client.hpp"

#include <sodium.h>

#include "common/link/session_words.hpp"
#include "common/log.hpp"
#include "common/uv/loop.hpp"

namespace ferry::agent {

LinkClient::LinkClient(uv_loop_t* loop, const config::AgentConfig& cfg, const crypto::SecretKey& key,
                       LinkPoolHooks hooks)
    : loop_(loop),
      cfg_(cfg),
      key_(key),
      hooks_(std::move(hooks)),
      // The primary is just "the link" in logs (one-link agents read as before), the others by number.
      name_(hooks_.index == 0
                ? "link"
                : "link " + std::to_string(hooks_.index + 1) + " of " + std::to_string(hooks_.size)),
      prefix_(hooks_.index == 0 ? "" : name_ + ": "),
      cipher_(cfg.cipher, crypto::aes_gcm_accelerated()) {
  if (hooks_.index == 0 && cfg.cipher == crypto::CipherSuite::AesGcm && !crypto::aes_gcm_accelerated())
    log::warn("agent",
              "cipher = \"aes-256-gcm\", but this CPU has no AES instructions: it will be slow and its "
              "software fallback is not constant-time");
  const auto colon = cfg.relay_address.rfind(':');
  host_ = cfg.relay_address.substr(0, colon);
  port_ = cfg.relay_address.substr(colon + 1);
  if (host_.size() > 2 && host_.front() == '[' && host_.back() == ']')
    host_ = host_.substr(1, host_.size() - 2);
  retry_.init(uv_timer_init, loop_, this);
  wait_timer_.init(uv_timer_init, loop_, this);
  grace_timer_.init(uv_timer_init, loop_, this);
  resolve_.data = this;
}

LinkClient::~LinkClient() = default;

void LinkClient::start() { connect(); }

void LinkClient::set_state(const std::string& state, const std::string& detail) {
  if (state == state_ && detail == last_error_) return;  // each change is logged once
  state_ = state;
  if (state == "up") {
    log::info("agent", name_ + " up to " + cfg_.relay_address + " (" + detail + ")");
  } else {
    last_error_ = detail;
    log::warn("agent", name_ + " " + state + ": " + detail);
  }
}

void LinkClient::poke() {
  if (std::exchange(parked_, false)) connect();
}

void LinkClient::probe() {
  if (stopping_) return;
  if (conn_) {
    if (!handshake_done_ || !established_) return;  // a handshake under way has its own timeout
    probing_ = true;
    conn_->probe();
    return;
  }
  if (resolving_ || parked_) return;
  // Between attempts: a new network deserves a try now, from the first backoff step.
  uv_timer_stop(retry_.get());
  backoff_ms_ = kBackoffFirstMs;
  connect();
}

void LinkClient::connect() {
  if (stopping_ || resolving_ || conn_) return;
  if (hooks_.may_connect && !hooks_.may_connect()) {
    parked_ = true;
    return;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  resolving_ = true;
  const int r = uv_getaddrinfo(
      loop_, &resolve_,
      [](uv_getaddrinfo_t* req, int status, addrinfo* res) {
        auto* self = static_cast<LinkClient*>(req->data);
        self->resolving_ = false;
        self->on_resolved(status, res);
        uv_freeaddrinfo(res);
      },
      host_.c_str(), port_.c_str(), &hints);
  if (r != 0) {
    resolving_ = false;
    set_state("down", std::string("cannot resolve ") + host_ + ": " + uv_strerror(r));
    schedule_reconnect();
  }
}

// Only the primary finds out (and says) that a relay does not take AES-256-GCM; the others follow it.
crypto::CipherSuite LinkClient::next_suite() const noexcept {
  if (hooks_.primary) return cipher_.following(hooks_.primary->relay_suites(), hooks_.primary->next_suite());
  return cipher_.next();
}

void LinkClient::on_resolved(int status, addrinfo* res) {
  if (stopping_) return maybe_stopped();
  if (status != 0 || !res) {
    set_state("down", "cannot resolve " + host_ + ": " + (status ? uv_strerror(status) : "no address"));
    return schedule_reconnect();
  }
  link::LinkConfig c;
  c.role = link::LinkConfig::Role::Initiator;
  c.static_key = &key_;
  c.peer_key = cfg_.relay_key;
  c.suite = attempt_suite_ = next_suite();
  attempt_at_ms_ = uv_now(loop_);
  // The relay decides how many streams an agent may hold (max_streams_per_agent) and refuses the
  // rest with a reason; the agent's own limit is only a backstop, far above any file limit.
  c.mux.max_streams = 1 << 20;
  c.mux.first_stream_id = cfg_.first_stream_id;
  c.resumable = true;
  c.takes_routes = true;
  if (held_) c.resume = session_;
  c.keep_streams = [this](std::unique_ptr<link::Mux> mux) { keep_streams(std::move(mux)); };
  handshake_done_ = false;
  // LinkConnection calls this from a copy of its own, so erasing the connection is safe here.
  conn_ = std::make_unique<uv::LinkConnection>(loop_, c, *this, [this](uv::LinkConnection& gone) {
    std::erase_if(retired_, [&](const auto& p) { return p.get() == &gone; });
    maybe_stopped();
  });
  if (auto r = conn_->connect(res->ai_addr); !r) conn_->session().abort(r.error());
}

void LinkClient::schedule_reconnect(bool at_once) {
  if (stopping_) return;
  // Jitter (x0.5 .. x1.5) keeps a whole office of agents from reconnecting in step after a relay restart.
  const double jitter = 0.5 + static_cast<double>(randombytes_uniform(1000)) / 1000.0;
  const auto delay = at_once ? 0 : static_cast<std::uint64_t>(static_cast<double>(backoff_ms_) * jitter);
  // Streams waiting for a resume are the user's open connections: the relay is tried often enough
  // that they carry on soon after the network comes back.
  if (!at_once) backoff_ms_ = std::min(backoff_ms_ * 2, held_ ? kHeldBackoffMaxMs : kBackoffMaxMs);
  uv_timer_start(
      retry_.get(), [](uv_timer_t* t) { static_cast<LinkClient*>(t->data)->connect(); }, delay, 0);
  if (hooks_.on_change) hooks_.on_change();  // this link's attempt is over: another may take its turn
}

void LinkClient::on_established(const crypto::PublicKey&) {
  established_ = handshake_done_ = true;
  link::LinkSession& session = conn_->session();
  if (held_ && session.resumed()) {
    // The same streams, on a new link: their refs keep their generation.
    uv_timer_stop(grace_timer_.get());
    ++resumes_;
    last_resume_reason_ = lost_reason_;
    resent_before_ = held_->stats().resent_bytes;
    log::info("agent", prefix_ + "resuming session " + link::short_session_id(session_) + " after " +
                           link::format_seconds(uv_now(loop_) - held_at_ms_) + " (" +
                           std::to_string(held_->stream_count()) + " streams)");
    session.adopt_mux(std::move(held_));
  } else {
    if (held_) drop_held("the relay no longer holds the session");
    ++generation_;
  }
  session_ = session.session_id();
  resumable_ = session.resumable();
  grace_s_ = session.grace_s();
  backoff_ms_ = kBackoffFirstMs;
  connected_at_ = std::chrono::steady_clock::now();
  const crypto::SuiteSet relay_suites = conn_->session().peer_suites();
  cipher_.established(relay_suites);
  // A link that fell back moves to AES-256-GCM at its next in-link handshake (hourly).
  if (relay_suites.contains(crypto::CipherSuite::AesGcm) && next_suite() == crypto::CipherSuite::AesGcm)
    conn_->session().set_suite(crypto::CipherSuite::AesGcm);
  set_state("up", std::string(crypto::suite_name(session.suite())) +
                      (resumable_ ? ", session " + link::short_session_id(session_) : std::string()));
  last_error_.clear();
  std::vector<Waiting> waiting;
  waiting.swap(waiting_);
  arm_wait_timer();
  for (auto& w : waiting) open_now(w.target, w.handler);
  if (hooks_.on_change) hooks_.on_change();
}

void LinkClient::keep_streams(std::unique_ptr<link::Mux> mux) {
  held_ = std::move(mux);
  held_at_ms_ = uv_now(loop_);
  just_kept_ = true;
  // The relay gives up on the session after its grace; so does this side, then, whatever happens.
  uv_timer_start(
      grace_timer_.get(),
      [](uv_timer_t* t) {
        static_cast<LinkClient*>(t->data)->drop_held("the session's grace ran out before a link came back");
      },
      std::uint64_t{grace_s_} * 1000, 0);
}

void LinkClient::drop_held(const std::string& why) {
  if (!held_) return;
  uv_timer_stop(grace_timer_.get());
  log::warn("agent", prefix_ + "session " + link::short_session_id(session_) + " ended: " + why + "; " +
                         std::to_string(held_->stream_count()) + " streams closed");
  std::unique_ptr<link::Mux> held = std::move(held_);
  past_sent_ += held->stats().bytes_sent;
  past_received_ += held->stats().bytes_received;
  ++generation_;         // refs to its streams find no mux from now on
  held->shutdown_all();  // each stream's handler closes its client's connection
}

void LinkClient::on_resumed() {
  if (!conn_) return;
  const link::MuxStats& st = conn_->mux().stats();
  log::info("agent", prefix_ + "resumed after " + link::format_seconds(uv_now(loop_) - held_at_ms_) + ", " +
                         std::to_string(conn_->mux().stream_count()) + " streams, " +
                         link::format_bytes(st.resent_bytes - resent_before_) + " retransmitted");
}

void LinkClient::on_routes(const frame::Routes& routes) {
  if (hooks_.on_routes) hooks_.on_routes(routes);
}

void LinkClient::on_closed(const Error& why) {
  // Said once per loss; an attempt to resume that fails (the network is still down) says nothing
  // more here, as the streams keep waiting.
  if (held_ && std::exchange(just_kept_, false)) {
    lost_reason_ = describe(why);
    log::warn("agent", prefix_ + "link lost (" + lost_reason_ + "); resuming session " +
                           link::short_session_id(session_) + " (" + std::to_string(held_->stream_count()) +
                           " streams)");
  }
  if (conn_) {
    past_sent_ += conn_->mux().stats().bytes_sent;
    past_received_ += conn_->mux().stats().bytes_received;
    // Message 1 reached a relay and the handshake did not complete: the primary's cipher choice
    // hears of it (a secondary follows the primary, next_suite()).
    const bool after_goaway = goaway_at_ms_ != 0 && attempt_at_ms_ - goaway_at_ms_ < kAfterGoawayMs;
    if (!handshake_done_ && conn_->session().handshake_begun() && !hooks_.primary && !after_goaway)
      if (auto say = cipher_.handshake_unanswered(attempt_suite_)) log::info("agent", *say);
  }
  established_ = false;
  // A link found dead by a probe (its network changed under it) is replaced at once: the relay is
  // not the cause, and the requests that wait for the answer are the user's.
  const bool probed_dead = std::exchange(probing_, false) && why.code == Errc::Timeout;
  set_state("down", describe(why));
  if (why.code != Errc::TooManyLinks) limit_refused_ = false;
  if (why.code == Errc::TooManyLinks) {
    // Not a fault that a quick retry mends: the relay holds as many links of this key as it admits,
    // which usually means another ferry-agent runs with the same key. Say so once until a link ends
    // otherwise, and wait the longest backoff before each try.
    backoff_ms_ = kBackoffMaxMs;
    if (!std::exchange(limit_refused_, true))
      log::warn("agent", prefix_ +
                             "the relay refused this link: it already holds as many links of this "
                             "agent's key as it admits (is another ferry-agent running with this key?); "
                             "retrying every " +
                             std::to_string(kBackoffMaxMs / 1000) + " s");
  }
  // The mux told every stream's handler before this (a failed open result for those the relay had
  // not answered); refs to streams it had already forgotten now find no mux (mux_of).
  if (conn_) retired_.push_back(std::move(conn_));  // freed by its gone callback
  if (stopping_) return drop_held("the agent is stopping");
  // Nothing listens at the relay's address: the relay process is gone, and the sessions it held in
  // memory with it. Waiting out the grace would only keep the clients waiting for nothing.
  if (why.code == Errc::Io && why.sys == UV_ECONNREFUSED)
    drop_held("the relay refused the connection (it is not running, so its sessions are gone)");
  schedule_reconnect(probed_dead || (held_ && handshake_done_));
}

void LinkClient::open(const Target& target, link::StreamHandler* handler, std::uint64_t deadline_ms) {
  if (up()) return open_now(target, handler);
  if (deadline_ms == 0) deadline_ms = uv_now(loop_) + kOpenWaitMs;
  // In deadline order: a handed-over open may be due before those already waiting here.
  const auto at = std::upper_bound(waiting_.begin(), waiting_.end(), deadline_ms,
                                   [](std::uint64_t d, const Waiting& w) { return d < w.deadline_ms; });
  const bool first = at == waiting_.begin();
  waiting_.insert(at, Waiting{target, handler, deadline_ms});
  if (first) arm_wait_timer();
}

void LinkClient::hand_over_waiting(LinkClient& other) {
  hand_over_waiting(
      [&other](const Target& t, link::StreamHandler* h, std::uint64_t d) { other.open(t, h, d); });
}

void LinkClient::hand_over_waiting(const OpenFn& open) {
  std::vector<Waiting> waiting;
  waiting.swap(waiting_);
  arm_wait_timer();
  for (auto& w : waiting) open(w.target, w.handler, w.deadline_ms);
}

// The connection is set aside (it finishes its streams, then closes) rather than kept in conn_: the
// relay may become the active one again while a long stream still runs there, and must then be able
// to make a new link at once.
void LinkClient::wind_down(const std::string& why) {
  if (!conn_ || !handshake_done_ || stopping_) return;
  conn_->mux().goaway(why);
  set_aside_draining("down", why);
  parked_ = true;  // poke() connects again, once the pool lets it
  if (hooks_.on_change) hooks_.on_change();
}

void LinkClient::open_now(const Target& target, link::StreamHandler* handler) {
  link::Mux& mux = conn_->mux();
  auto id = mux.open(target);
  if (!id) {
    const auto code = id.error().code == Errc::Limit ? frame::OpenCode::Limit : frame::OpenCode::Failure;
    return handler->on_open_result(frame::OpenResult{code, 0, describe(id.error())});
  }
  mux.bind(*id, handler);
  if (mux.ids_left() == 0) retire();
  handler->on_open_sent(link::StreamRef(*this, generation_, *id));
}

link::Mux* LinkClient::mux_of(std::uint64_t generation) noexcept {
  for (const auto& d : draining_)
    if (d->generation == generation) return &d->conn->mux();
  if (generation != generation_) return nullptr;
  return held_ ? held_.get() : mux();
}

// The link's stream ids are used up (2^30 streams): it takes no new stream, tells the relay so with
// GOAWAY, and closes once its streams have ended; the usual reconnect then brings a fresh link.
void LinkClient::retire() {
  log::info("agent", prefix_ + "this link has used every stream id; new streams wait for a fresh link");
  established_ = false;
  conn_->mux().goaway("stream ids used up");
  conn_->close_when_streams_end(frame::CloseCode::Normal, "stream ids used up");
  if (hooks_.on_change) hooks_.on_change();
}

void LinkClient::fail_waiting(bool all) {
  const std::uint64_t now = uv_now(loop_);
  std::vector<Waiting> expired;
  std::erase_if(waiting_, [&](const Waiting& w) {
    if (!all && w.deadline_ms > now) return false;
    expired.push_back(w);
    return true;
  });
  arm_wait_timer();
  for (auto& w : expired) {
    const std::string why =
        "the relay is unreachable" + (last_error_.empty() ? std::string() : " (" + last_error_ + ")");
    w.handler->on_open_result(frame::OpenResult{frame::OpenCode::Failure, 0, why});
  }
}

// The timer runs only while an open() waits for the link, and fires at the first deadline: an agent
// whose link is down with nobody waiting (a laptop offline) wakes for its reconnects alone.
void LinkClient::arm_wait_timer() {
  if (stopping_) return;  // the timer is closed or closing
  if (waiting_.empty()) return void(uv_timer_stop(wait_timer_.get()));
  const std::uint64_t now = uv_now(loop_);
  const std::uint64_t first = waiting_.front().deadline_ms;
  uv_timer_start(
      wait_timer_.get(), [](uv_timer_t* t) { static_cast<LinkClient*>(t->data)->fail_waiting(false); },
      first > now ? first - now : 0, 0);
}

// The probe was answered: the link is alive, and the opens that waited for the answer go on it.
void LinkClient::on_alive() {
  if (!std::exchange(probing_, false) || !up()) return;
  std::vector<Waiting> waiting;
  waiting.swap(waiting_);
  arm_wait_timer();
  for (auto& w : waiting) open_now(w.target, w.handler);
  if (hooks_.on_change) hooks_.on_change();
}

void LinkClient::on_goaway(const frame::GoAway& g) {
  if (!conn_ || !handshake_done_ || stopping_) {
    established_ = false;
    return;
  }
  log::info("agent", prefix_ + "the relay is draining (" + g.reason + "); " +
                         std::to_string(conn_->mux().stream_count()) +
                         " open streams finish on this link, new ones go to a new link");
  goaway_at_ms_ = uv_now(loop_);
  set_aside_draining("connecting", "the relay drains the last link");
  schedule_reconnect(true);
}

void LinkClient::set_aside_draining(const std::string& state, const std::string& why) {
  auto d = std::make_unique<Draining>();
  Draining* raw = d.get();
  raw->generation = generation_;  // the refs of its streams keep finding its mux (mux_of)
  raw->conn = std::move(conn_);
  raw->conn->set_owner(
      *raw,
      [this](std::unique_ptr<link::Mux> mux) {  // lost while draining: there is nothing to resume on
        past_sent_ += mux->stats().bytes_sent;
        past_received_ += mux->stats().bytes_received;
        mux->shutdown_all();
      },
      // From a copy of the connection's own callback, so freeing it here is safe.
      [this, raw](uv::LinkConnection& gone) {
        past_sent_ += gone.mux().stats().bytes_sent;
        past_received_ += gone.mux().stats().bytes_received;
        std::erase_if(draining_, [raw](const auto& p) { return p.get() == raw; });
        maybe_stopped();
      });
  raw->conn->close_when_streams_end(frame::CloseCode::Normal, why);
  draining_.push_back(std::move(d));
  established_ = handshake_done_ = false;
  set_state(state, why);
}

void LinkClient::cancel(link::StreamHandler* handler) {
  if (std::erase_if(waiting_, [handler](const Waiting& w) { return w.handler == handler; })) arm_wait_timer();
}

void LinkClient::stop(std::function<void()> done) {
  stopping_ = true;
  stopped_ = std::move(done);
  fail_waiting(true);
  drop_held("the agent is stopping");
  retry_.close();
  wait_timer_.close();
  grace_timer_.close();
  handles_.when_closed([this] { maybe_stopped(); });
  for (const auto& d : draining_) d->conn->close(frame::CloseCode::Shutdown, "agent stopping");
  if (conn_) return conn_->close(frame::CloseCode::Shutdown, "agent stopping");
}

// Stopped: no connection, no lookup in flight, and the timers' close callbacks have run.
void LinkClient::maybe_stopped() {
  if (!stopping_ || conn_ || !retired_.empty() || !draining_.empty() || resolving_ || handles_.open() > 0)
    return;
  if (auto f = std::exchange(stopped_, nullptr)) f();  // once
}

crypto::SuiteSet LinkClient::relay_suites() const noexcept {
  return conn_ && handshake_done_ ? conn_->session().peer_suites() : crypto::SuiteSet{};
}

std::size_t LinkClient::stream_count() const noexcept {
  std::size_t n = held_ ? held_->stream_count() : conn_ ? conn_->mux().stream_count() : 0;
  for (const auto& d : draining_) n += d->conn->mux().stream_count();
  return n;
}

std::uint64_t LinkClient::bytes_moved() const noexcept {
  std::uint64_t n = past_sent_ + past_received_;
  for (const auto& d : draining_)
    n += d->conn->mux().stats().bytes_sent + d->conn->mux().stats().bytes_received;
  if (conn_) n += conn_->mux().stats().bytes_sent + conn_->mux().stats().bytes_received;
  if (held_) n += held_->stats().bytes_sent + held_->stats().bytes_received;
  return n;
}

LinkStatus LinkClient::status() const {
  LinkStatus s;
  s.state = up() ? "up" : (state_ == "up" ? "draining" : state_);
  s.relay = cfg_.relay_address;
  s.last_error = last_error_;
  s.bytes_sent = past_sent_;
  s.bytes_received = past_received_;
  if (generation_ > 0) s.session = link::short_session_id(session_);
  s.resumable = resumable_;
  s.held = held_ != nullptr;
  s.resumes = resumes_;
  s.last_resume_reason = last_resume_reason_;
  if (held_) {
    s.streams = held_->stream_count();
    s.bytes_sent += held_->stats().bytes_sent;
    s.bytes_received += held_->stats().bytes_received;
  }
  for (const auto& d : draining_) {  // finishing on a relay that drains
    s.streams += d->conn->mux().stream_count();
    s.bytes_sent += d->conn->mux().stats().bytes_sent;
    s.bytes_received += d->conn->mux().stats().bytes_received;
  }
  if (conn_) {
    const auto& mux = conn_->mux();
    s.streams += mux.stream_count();
    s.bytes_sent += mux.stats().bytes_sent;
    s.bytes_received += mux.stats().bytes_received;
    if (auto rtt = conn_->session().rtt()) s.rtt_ms = rtt->count();
    if (conn_->session().established()) {
      s.cipher = crypto::suite_name(conn_->session().suite());
      s.wire_version = resumable_ ? 2 : 1;  // a version 2 relay answers 2 only with a grace
      s.grace_s = grace_s_;
      s.connected_for_s =
          std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - connected_at_)
              .count();
    }
  }
  return s;
}

}  // namespace ferry::agent

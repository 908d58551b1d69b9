#include "relay/link_handler.hpp"

#include "common/codec/proxy_v2.hpp"
#include "common/link/record_codec.hpp"
#include "common/link/session_words.hpp"
#include "common/log.hpp"
#include "common/uv/loop.hpp"

namespace ferry::relay {

link::LinkConfig LinkHandler::config(link::Millis handshake_timeout) {
  RelayContext& ctx = ctx_;
  link::LinkConfig c;
  c.role = link::LinkConfig::Role::Responder;
  c.static_key = ctx.key;
  c.admission = ctx.agents;
  c.handshake_timeout = handshake_timeout;
  c.accept_suites = ctx.link_suites;
  // The per-agent limit is counted across links in AgentDirectory; the mux's own bound only keeps
  // one link's table finite (a little above it, so the agent-wide count answers first).
  c.mux.max_streams = ctx.max_streams + 16;
  c.grace_s = ctx.resume_grace_s;
  c.sessions = ctx.sessions;
  c.keep_streams = [this](std::unique_ptr<link::Mux> mux) { hold(std::move(mux)); };
  return c;
}

LinkHandler::LinkHandler(RelayContext& ctx, std::string source, link::Millis handshake_timeout, GoneFn gone)
    : ctx_(ctx),
      source_(std::move(source)),
      gone_(std::move(gone)),
      conn_(std::make_unique<uv::LinkConnection>(ctx.loop, config(handshake_timeout), *this,
                                                 [this](uv::LinkConnection& l) { on_link_gone(l); })) {}

LinkHandler::~LinkHandler() {
  if (in_table_) ctx_.sessions->remove(session_, *this);
  if (held_) ctx_.metrics->sessions_held--;
  if (holds_link_) ctx_.agents->release_link(peer());
}

Result<void> LinkHandler::adopt(int fd, Bytes message1, std::string peer) {
  if (auto r = conn_->adopt(fd); !r) return r;
  if (!peer.empty()) conn_->set_peer_address(std::move(peer));
  if (!message1.empty()) conn_->receive_first(message1);
  return {};
}

// The connection calls this from a copy of its own callback, so freeing it here is safe.
void LinkHandler::on_link_gone(uv::LinkConnection& link) {
  if (&link == conn_.get())
    link_gone_ = true;
  else
    std::erase_if(retired_, [&](const auto& p) { return p.get() == &link; });
  maybe_gone();
}

void LinkHandler::on_established(const crypto::PublicKey& peer) {
  if (std::exchange(handshaking_, false) && ctx_.placement) ctx_.placement->established(ctx_.worker, source_);
  if (conn_->session().resumed() && resume_elsewhere()) return;  // this handler is gone
  agent_ = ctx_.agents->find(peer);
  peer_ = peer;
  if (!agent_) return conn_->close(frame::CloseCode::Revoked, "not listed");  // revoked mid-handshake
  // Each link may hold kMaxLookups threads of the shared lookup pool: links per agent bound one
  // agent's share of it (an agent has one link, briefly two while a dead one times out).
  if (!ctx_.agents->acquire_link(peer, kMaxLinksPerAgent)) {
    agent_.reset();
    return conn_->close(frame::CloseCode::Limit,
                        "this agent has " + std::to_string(kMaxLinksPerAgent) + " links open already");
  }
  holds_link_ = true;
  mux().set_budget(ctx_.agents->budget(peer));
  if (conn_->session().resumable() && ctx_.sessions) {
    session_ = conn_->session().session_id();
    ctx_.sessions->add(session_, *this);
    in_table_ = true;
  }
  link_suite_ = conn_->session().suite();  // counted under the cipher it came up with
  ctx_.metrics->link_up(link_suite_);
  log::info("relay", "agent \"" + agent_->name + "\" connected from " + conn_->peer_address() + " (" +
                         std::string(crypto::suite_name(link_suite_)) +
                         (in_table_ ? ", session " + link::short_session_id(session_) : std::string()) + ")");
  push_routes();
}

void LinkHandler::push_routes() {
  if (conn_ && established() && conn_->session().established()) conn_->session().send_routes(ctx_.routes);
}

LinkHandler::Outbound* LinkHandler::find(link::StreamId id) {
  auto it = outbound_.find(id);
  return it == outbound_.end() ? nullptr : it->second.get();
}

void LinkHandler::refuse(link::StreamId id, AuditRecord record, frame::OpenCode code,
                         const std::string& reason) {
  mux().accept(id, code, reason);
  ctx_.metrics->refused(code);
  record.result = frame::open_code_name(code);
  record.reason = reason;
  ctx_.audit->write(record);
  close_if_abusive();
}

// An agent that has kept its refusals past the audit log's budget for a minute (RefusalBudget) is
// hammering the relay, not using it: its link closes. It may come back, on the same budget.
void LinkHandler::close_if_abusive() {
  if (!agent_ || !ctx_.audit->abusive(agent_->name)) return;
  log::warn("relay", "agent \"" + agent_->name + "\" closed: streams refused past the audit budget for " +
                         std::to_string(RefusalBudget::kAbuseSeconds) + " s");
  conn_->close(frame::CloseCode::ProtocolError, "too many refused streams");
}

void LinkHandler::on_open(link::StreamId id, const Target& target) {
  AuditRecord record;
  record.agent = agent_ ? agent_->name : "?";
  record.from = conn_->peer_address();
  record.target = target.to_string();
  if (!agent_ || draining_) return refuse(id, record, frame::OpenCode::Limit, "the relay is draining");
  if (!ctx_.agents->acquire_stream(peer(), ctx_.max_streams))
    return refuse(
        id, record, frame::OpenCode::Limit,
        "this agent has " + std::to_string(ctx_.max_streams) + " streams open (max_streams_per_agent)");
  if (target.kind == Target::Kind::Name && ctx_.policy.check_name) {
    if (auto denied = ctx_.policy.check_name(*agent_, target.name, target.port)) {
      ctx_.agents->release_stream(peer());
      return refuse(id, record, frame::OpenCode::Denied, *denied);
    }
  }
  auto out = std::make_unique<Outbound>(*this, id);
  out->target = target;
  out->audit = record;
  out->started = std::chrono::steady_clock::now();
  out->resumes_before = resumes_;
  out->conn =
      std::make_unique<uv::TcpConnection>(ctx_.loop, [this, id](uv::TcpConnection&) { on_pipe_done(id); });
  out->pipe = std::make_unique<uv::SocketPipe>(*out->conn, link::StreamRef(mux(), 0, id));
  mux().bind(id, out.get());  // until the target answers
  net::AddressCheck check;
  if (ctx_.policy.check_address) {
    check = [this](const sockaddr* sa, bool resolved) {
      return ctx_.policy.check_address(*agent_, sa, resolved);
    };
  }
  net::DialOptions options = ctx_.dial;
  options.lookups = lookups_;
  options.agent_lookup = [agents = ctx_.agents, key = peer()] {
    return agents->acquire_lookup(key, kMaxAgentLookups);
  };
  options.agent_lookup_done = [agents = ctx_.agents, key = peer()] { agents->release_lookup(key); };
  out->dialer =
      net::Dialer::make(ctx_.loop, target, std::move(options), std::move(check), out->conn->socket(),
                        [this, id](const net::DialResult& r) { on_dialled(id, r); });
  Outbound& o = *out;
  outbound_.emplace(id, std::move(out));
  ctx_.metrics->streams++;
  o.dialer->start();
}

void LinkHandler::on_dialled(link::StreamId id, const net::DialResult& r) {
  Outbound* o = find(id);
  if (!o) return;
  o->dialled = true;
  // The dialer has answered: it goes now (it frees itself once its handles have closed), not with
  // the stream, since a held connection would keep its timers, options and addresses (~0.4 KiB).
  o->dialer.reset();
  o->audit.dialled = r.dialled;
  ctx_.metrics->dial(r.code, static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                            std::chrono::steady_clock::now() - o->started)
                                                            .count()));
  if (r.code != frame::OpenCode::Ok) {
    mux().accept(id, r.code, r.reason);
    o->early = {};  // the agent's early data has nowhere to go
    o->audit.result = frame::open_code_name(r.code);
    o->audit.reason = r.reason;
    o->pipe->on_reset(frame::ResetCode::Cancel);  // nothing to pipe: closes the socket, then on_pipe_done
    return;
  }
  o->connected = true;
  o->audit.result = "connected";
  if (auto ss = uv::parse_socket_address(r.dialled)) o->dialled_addr = *ss;
  mux().accept(id, frame::OpenCode::Ok);
  mux().bind(id, o->pipe.get());  // the stream's bytes go to the pipe directly from now on
  if (mux().recv_window(id) == 0) note_budget_wait();
  o->conn->set_idle_timeout(ctx_.idle_timeout_ms);
  o->pipe->start();
  // The agent's early data, held while dialling, goes first; its credit returns once written.
  if (!o->early.empty()) o->pipe->write_held(std::exchange(o->early, {}));
  if (o->early_fin) o->pipe->on_fin();
}

// The agent's streams hold seven eighths of its budget of buffered bytes: this stream starts with no
// credit (buffer_budget.hpp). Counted every time, said once per link, so an operator sees why an
// agent's uploads stall without a line per stream.
void LinkHandler::note_budget_wait() {
  ctx_.metrics->budget_waits++;
  if (std::exchange(budget_wait_logged_, true) || !agent_) return;
  log::info("relay",
            "agent \"" + agent_->name +
                "\": its streams hold most of max_buffered_mib_per_agent; new streams wait for credit");
}

void LinkHandler::on_pipe_done(link::StreamId id) {
  auto it = outbound_.find(id);
  if (it == outbound_.end()) return;
  Outbound& o = *it->second;
  o.audit.bytes_up = o.pipe->counters().from_link;
  o.audit.bytes_down = o.pipe->counters().to_link;
  o.audit.duration_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - o.started).count();
  o.audit.resumes = resumes_ - o.resumes_before;
  ctx_.audit->write(o.audit);
  const bool refused = o.audit.result != "connected";
  ctx_.metrics->streams--;
  ctx_.agents->release_stream(peer());
  ctx_.metrics->bytes_up += o.audit.bytes_up;
  ctx_.metrics->bytes_down += o.audit.bytes_down;
  outbound_.erase(it);  // the pipe's handles are closed; the dialer boxes free themselves
  if (refused) close_if_abusive();
  maybe_gone();
}

// The agent cancelled the stream, or the link ended, before the target answered.
void LinkHandler::on_stream_reset(link::StreamId id, frame::ResetCode code) {
  Outbound* o = find(id);
  if (!o) return;
  if (o->dialer && !o->dialled)
    o->audit.result = code == frame::ResetCode::Shutdown ? "link ended while dialling"
                                                         : "cancelled by the agent while dialling";
  o->dialer.reset();  // a dial in flight is abandoned
  o->pipe->on_reset(code);
}

void LinkHandler::on_closed(const Error& why) {
  if (moved_) return;
  if (agent_) {
    ctx_.metrics->link_down(link_suite_);
    if (std::exchange(just_held_, false))
      return log::info("relay", "agent \"" + agent_->name + "\" link lost (" + describe(why) +
                                    "); holding session " + link::short_session_id(session_) + " for " +
                                    std::to_string(ctx_.resume_grace_s) + " s (" +
                                    std::to_string(held_->stream_count()) + " streams)");
    if (in_table_ && !replacing_) {  // nothing held: nothing to resume
      ctx_.sessions->remove(session_, *this);
      in_table_ = false;
    }
    return log::info("relay", "agent \"" + agent_->name + "\" link ended: " + describe(why));
  }
  if (why.code == Errc::Moved) {
    // The session to resume is another worker's: the socket and message 1 (as a record again) go there.
    if (const auto& moved = conn_->session().moved(); ctx_.move_resume && moved) {
      Bytes record;
      link::append_record(record, moved->message1);
      const int fd = conn_->release_socket();
      if (fd >= 0) {
        moved_ = true;
        ctx_.move_resume(conn_->session().peer(), moved->session, fd, std::move(record), source_,
                         conn_->peer_address());
        return;
      }
    }
  }
  if (quiet_) return;
  // A PROXY v2 header from an address not in [proxy_protocol] trusted: no message 1 has such a
  // beginning (its record length would be 3338 bytes), so the connection ended before any
  // cryptography; it is counted apart, since it means a balancer the operator has not listed.
  const ByteSpan first = conn_->first_bytes();
  const bool proxy_header =
      first.size() == proxy_v2::kSignature.size() && proxy_v2::starts_like_header(first);
  ctx_.metrics->handshake_failure(proxy_header ? Metrics::HandshakeFailure::ProxyHeaderUntrusted
                                               : Metrics::classify(why));
  const auto v =
      ctx_.refusal_log ? ctx_.refusal_log->note(uv_now(ctx_.loop)) : RefusalLogRate::Verdict{true, 0};
  if (v.left_out > 0)
    log::info("relay", std::to_string(v.left_out) +
                           " more handshakes were refused since the last such line (not logged one by one)");
  if (v.log)
    log::info(
        "relay",
        "handshake from " + conn_->peer_address() + " refused: " +
            (proxy_header ? std::string("a PROXY v2 header from an address not in [proxy_protocol] trusted")
                          : describe(why)));
}

void LinkHandler::recheck_policy() {
  if (!agent_) return;
  std::vector<std::pair<link::StreamId, std::string>> denied;
  for (auto& [id, o] : outbound_) {
    if (o->conn->closing()) continue;
    std::optional<std::string> why;
    if (o->target.kind == Target::Kind::Name && ctx_.policy.check_name)
      why = ctx_.policy.check_name(*agent_, o->target.name, o->target.port);
    if (!why && o->dialled_addr && ctx_.policy.check_address)
      why = ctx_.policy.check_address(*agent_, reinterpret_cast<const sockaddr*>(&*o->dialled_addr),
                                      o->target.kind == Target::Kind::Name);
    if (why) denied.emplace_back(id, *why);
  }
  // Aborting may end a stream and erase it: found first, reset after.
  for (const auto& [id, why] : denied) {
    Outbound* o = find(id);
    if (!o) continue;
    o->audit.result = "denied after reload";
    o->audit.reason = why;
    o->dialer.reset();  // a dial in flight is abandoned
    if (o->connected)
      o->pipe->abort(frame::ResetCode::Denied, true);
    else {  // still dialling: its answer is the refusal
      mux().accept(id, frame::OpenCode::Denied, why);
      o->pipe->on_reset(frame::ResetCode::Denied);
    }
  }
  if (!denied.empty())
    log::info("relay", "agent \"" + agent_->name + "\": " + std::to_string(denied.size()) +
                           " open streams reset, denied by the reloaded policy");
}

// The link stays until every stream has ended both ways and its last bytes are out (a client that
// half-closed still gets its answer and the FIN), or until the drain's time is up.
void LinkHandler::drain() {
  draining_ = true;
  if (held_) return end_session("the relay is shutting down");
  mux().goaway("relay shutting down");
  conn_->close_when_streams_end(frame::CloseCode::Shutdown, "relay shutting down");
}

// Stream resumption (docs/protocol.md 4.13). end() of a resumable session's link calls this with
// its suspended mux: the targets stay open, their pipes queue into it until their windows fill.
void LinkHandler::hold(std::unique_ptr<link::Mux> mux) {
  held_ = std::move(mux);
  ctx_.metrics->sessions_held++;  // first: end_session() gives it back
  if (draining_ || !in_table_) return end_session("the relay is shutting down");
  held_at_ms_ = uv_now(ctx_.loop);
  held_until_ms_ = held_at_ms_ + std::uint64_t{ctx_.resume_grace_s} * 1000;
  just_held_ = true;
}

void LinkHandler::end_session(const std::string& why) {
  if (!held_) return;
  if (in_table_) {
    ctx_.sessions->remove(session_, *this);
    in_table_ = false;
  }
  if (agent_ && !draining_) {
    ctx_.metrics->sessions_expired++;
    log::info("relay", "agent \"" + agent_->name + "\" session " + link::short_session_id(session_) +
                           " ended: " + why + "; " + std::to_string(held_->stream_count()) +
                           " streams closed");
  }
  ctx_.metrics->sessions_held--;
  ended_ = std::move(held_);
  ended_->shutdown_all();  // each pipe closes its target
  maybe_gone();
}

// A link of this worker resumed a session: the handler that holds it takes the link, and this one,
// empty, goes.
bool LinkHandler::resume_elsewhere() {
  LinkHandler* holder = ctx_.sessions ? ctx_.sessions->holder(conn_->session().session_id()) : nullptr;
  if (!holder || holder == this) return false;
  moved_ = true;
  link_gone_ = true;
  holder->take_over(std::move(conn_));
  conn_ = nullptr;
  maybe_gone();  // may delete this
  return true;
}

void LinkHandler::take_over(std::unique_ptr<uv::LinkConnection> link) {
  const std::uint64_t now = uv_now(ctx_.loop);
  replacing_ = true;
  if (!conn_->closing()) conn_->session().abort(fail(Errc::Io, "replaced by a resumed link"));
  replacing_ = false;
  // A link lost with no stream open kept its mux: the refs of pipes still writing to targets name it.
  if (held_) ctx_.metrics->sessions_held--;
  std::unique_ptr<link::Mux> mux = held_ ? std::move(held_) : conn_->session().take_mux();
  if (std::exchange(just_held_, false) || held_at_ms_ == 0) held_at_ms_ = now;
  mux->suspend();  // already so when held; one that was not answers with RESUME_DONE alone
  retired_.push_back(std::move(conn_));
  conn_ = std::move(link);
  link_gone_ = false;
  conn_->set_owner(
      *this, [this](std::unique_ptr<link::Mux> m) { hold(std::move(m)); },
      [this](uv::LinkConnection& l) { on_link_gone(l); });
  ++resumes_;
  ctx_.metrics->resumes++;
  ctx_.metrics->link_up(link_suite_ = conn_->session().suite());
  resent_before_ = mux->stats().resent_bytes;
  log::info("relay", "agent \"" + (agent_ ? agent_->name : std::string("?")) + "\" resumed session " +
                         link::short_session_id(session_) + " from " + conn_->peer_address() + " after " +
                         link::format_seconds(now - held_at_ms_) + " (" +
                         std::to_string(mux->stream_count()) + " streams)");
  held_at_ms_ = 0;
  conn_->session().adopt_mux(std::move(mux));
  push_routes();  // a reload while the link was lost changed nothing the agent knows yet
}

void LinkHandler::on_resumed() {
  const std::uint64_t resent = mux().stats().resent_bytes - resent_before_;
  ctx_.metrics->resumed_bytes += resent;
  if (agent_)
    log::info("relay", "agent \"" + agent_->name + "\" resumed: " + std::to_string(mux().stream_count()) +
                           " streams, " + link::format_bytes(resent) + " retransmitted");
}

void LinkHandler::maybe_gone() {
  if (!link_gone_ || !outbound_.empty() || held_ || !retired_.empty() || !gone_) return;
  if (auto gone = std::move(gone_)) gone(*this);  // from a copy: it may delete this, and gone_ with it
}

}  // namespace ferry::relay

#include "relay/link_handler.hpp"

#include "common/log.hpp"
#include "common/uv/loop.hpp"

namespace ferry::relay {
namespace {

link::LinkConfig responder_config(RelayContext& ctx, link::Millis handshake_timeout) {
  link::LinkConfig c;
  c.role = link::LinkConfig::Role::Responder;
  c.static_key = ctx.key;
  c.admission = ctx.agents;
  c.handshake_timeout = handshake_timeout;
  c.accept_suites = ctx.link_suites;
  // The per-agent limit is counted across links in AgentDirectory; the mux's own bound only keeps
  // one link's table finite (a little above it, so the agent-wide count answers first).
  c.mux.max_streams = ctx.max_streams + 16;
  return c;
}

}  // namespace

LinkHandler::LinkHandler(RelayContext& ctx, std::string source, link::Millis handshake_timeout, GoneFn gone)
    : ctx_(ctx),
      source_(std::move(source)),
      gone_(std::move(gone)),
      conn_(ctx.loop, responder_config(ctx, handshake_timeout), *this, [this](uv::LinkConnection&) {
        link_gone_ = true;
        maybe_gone();
      }) {}

LinkHandler::~LinkHandler() {
  if (holds_link_) ctx_.agents->release_link(peer());
}

Result<void> LinkHandler::adopt(int fd) { return conn_.adopt(fd); }

void LinkHandler::on_established(const crypto::PublicKey& peer) {
  if (std::exchange(handshaking_, false) && ctx_.placement) ctx_.placement->established(ctx_.worker, source_);
  agent_ = ctx_.agents->find(peer);
  if (!agent_) return conn_.close(frame::CloseCode::Revoked, "not listed");  // revoked mid-handshake
  // Each link may hold kMaxLookups threads of the shared lookup pool: links per agent bound one
  // agent's share of it (an agent has one link, briefly two while a dead one times out).
  if (!ctx_.agents->acquire_link(peer, kMaxLinksPerAgent)) {
    agent_.reset();
    return conn_.close(frame::CloseCode::Limit,
                       "this agent has " + std::to_string(kMaxLinksPerAgent) + " links open already");
  }
  holds_link_ = true;
  conn_.mux().set_budget(ctx_.agents->budget(peer));
  link_suite_ = conn_.session().suite();  // counted under the cipher it came up with
  ctx_.metrics->link_up(link_suite_);
  log::info("relay", "agent \"" + agent_->name + "\" connected from " + conn_.peer_address() + " (" +
                         std::string(crypto::suite_name(link_suite_)) + ")");
}

LinkHandler::Outbound* LinkHandler::find(link::StreamId id) {
  auto it = outbound_.find(id);
  return it == outbound_.end() ? nullptr : it->second.get();
}

void LinkHandler::refuse(link::StreamId id, AuditRecord record, frame::OpenCode code,
                         const std::string& reason) {
  conn_.mux().accept(id, code, reason);
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
  conn_.close(frame::CloseCode::ProtocolError, "too many refused streams");
}

void LinkHandler::on_open(link::StreamId id, const Target& target) {
  AuditRecord record;
  record.agent = agent_ ? agent_->name : "?";
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
  out->conn =
      std::make_unique<uv::TcpConnection>(ctx_.loop, [this, id](uv::TcpConnection&) { on_pipe_done(id); });
  out->pipe = std::make_unique<uv::SocketPipe>(*out->conn, link::StreamRef(conn_.mux(), 0, id));
  conn_.mux().bind(id, out.get());  // until the target answers
  AddressCheck check;
  if (ctx_.policy.check_address) {
    check = [this](const sockaddr* sa, bool resolved) {
      return ctx_.policy.check_address(*agent_, sa, resolved);
    };
  }
  DialOptions options = ctx_.dial;
  options.lookups = lookups_;
  options.agent_lookup = [agents = ctx_.agents, key = peer()] {
    return agents->acquire_lookup(key, kMaxAgentLookups);
  };
  options.agent_lookup_done = [agents = ctx_.agents, key = peer()] { agents->release_lookup(key); };
  out->dialer = Dialer::make(ctx_.loop, target, std::move(options), std::move(check), out->conn->socket(),
                             [this, id](const DialResult& r) { on_dialled(id, r); });
  Outbound& o = *out;
  outbound_.emplace(id, std::move(out));
  ctx_.metrics->streams++;
  o.dialer->start();
}

void LinkHandler::on_dialled(link::StreamId id, const DialResult& r) {
  Outbound* o = find(id);
  if (!o) return;
  o->dialled = true;
  o->audit.dialled = r.dialled;
  ctx_.metrics->dial(r.code, static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                            std::chrono::steady_clock::now() - o->started)
                                                            .count()));
  if (r.code != frame::OpenCode::Ok) {
    conn_.mux().accept(id, r.code, r.reason);
    o->audit.result = frame::open_code_name(r.code);
    o->audit.reason = r.reason;
    o->pipe->on_reset(frame::ResetCode::Cancel);  // nothing to pipe: closes the socket, then on_pipe_done
    return;
  }
  o->connected = true;
  o->audit.result = "connected";
  if (auto ss = uv::parse_socket_address(r.dialled)) o->dialled_addr = *ss;
  conn_.mux().accept(id, frame::OpenCode::Ok);
  conn_.mux().bind(id, o->pipe.get());  // the stream's bytes go to the pipe directly from now on
  if (conn_.mux().recv_window(id) == 0) note_budget_wait();
  o->conn->set_idle_timeout(ctx_.idle_timeout_ms);
  o->pipe->start();
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
  if (agent_) {
    ctx_.metrics->link_down(link_suite_);
    return log::info("relay", "agent \"" + agent_->name + "\" link ended: " + describe(why));
  }
  if (quiet_) return;
  ctx_.metrics->handshake_failure(Metrics::classify(why));
  const auto v =
      ctx_.refusal_log ? ctx_.refusal_log->note(uv_now(ctx_.loop)) : RefusalLogRate::Verdict{true, 0};
  if (v.left_out > 0)
    log::info("relay", std::to_string(v.left_out) +
                           " more handshakes were refused since the last such line (not logged one by one)");
  if (v.log) log::info("relay", "handshake from " + conn_.peer_address() + " refused: " + describe(why));
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
      conn_.mux().accept(id, frame::OpenCode::Denied, why);
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
  conn_.mux().goaway("relay shutting down");
  conn_.close_when_streams_end(frame::CloseCode::Shutdown, "relay shutting down");
}

void LinkHandler::maybe_gone() {
  if (!link_gone_ || !outbound_.empty() || !gone_) return;
  if (auto gone = std::move(gone_)) gone(*this);  // from a copy: it may delete this, and gone_ with it
}

}  // namespace ferry::relay

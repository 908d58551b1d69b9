// One agent's link at the relay: the Noise responder on an accepted TCP connection, and for every
// stream the agent opens, a policy check, a Dialer and then a SocketPipe to the target.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>

#include "common/net/dialer.hpp"
#include "common/uv/link_connection.hpp"
#include "common/uv/socket_pipe.hpp"
#include "relay/agent_directory.hpp"
#include "relay/audit.hpp"
#include "relay/link_placement.hpp"
#include "relay/metrics.hpp"
#include "relay/refusal_log_rate.hpp"
#include "relay/session_table.hpp"

namespace ferry::relay {

// The destination policy as the link handler sees it: the denying rule's text, or nothing.
struct PolicyHooks {
  std::function<std::optional<std::string>(const AgentInfo&, const std::string& name, std::uint16_t port)>
      check_name;
  std::function<std::optional<std::string>(const AgentInfo&, const sockaddr* addr, bool resolved)>
      check_address;
};

struct RelayContext {
  uv_loop_t* loop = nullptr;
  const crypto::SecretKey* key = nullptr;
  AgentDirectory* agents = nullptr;
  AuditLog* audit = nullptr;
  Metrics* metrics = nullptr;
  PolicyHooks policy;
  net::DialOptions dial;
  std::uint64_t idle_timeout_ms = 900'000;
  std::size_t max_streams = 4096;
  link::Millis handshake_timeout{5000};
  crypto::SuiteSet link_suites{crypto::CipherSuite::ChaChaPoly};
  // Where this worker's links are counted (handshakes in progress, and links per worker).
  LinkPlacement* placement = nullptr;
  std::size_t worker = 0;
  // How many handshake refusals get a log line (shared by every worker).
  RefusalLogRate* refusal_log = nullptr;
  // Stream resumption: how long a lost link's session is held (0: not at all), this worker's
  // sessions, and where a resume for another worker's session goes (the socket and message 1).
  std::uint16_t resume_grace_s = 0;
  SessionTable* sessions = nullptr;
  // relay.toml [routes] through, with its version: pushed to each agent that takes it.
  frame::Routes routes;
  // `peer`: the agent's address as the handler knew it (a PROXY header's, when there was one).
  std::function<void(const crypto::PublicKey& agent, const link::SessionId& id, int fd, Bytes message1,
                     const std::string& source, const std::string& peer)>
      move_resume;
};

class LinkHandler final : public link::LinkEvents {
 public:
  using GoneFn = std::function<void(LinkHandler&)>;
  // `source`: the peer's address as placement counts it (RelayServer::rate_source). A worker filling up
  // with handshakes gives new ones a shorter `handshake_timeout` than the configured one.
  LinkHandler(RelayContext& ctx, std::string source, link::Millis handshake_timeout, GoneFn gone);
  ~LinkHandler() override;
  LinkHandler(const LinkHandler&) = delete;
  LinkHandler& operator=(const LinkHandler&) = delete;

  // Starts the handshake on an accepted socket, which it then owns (the caller still does on failure).
  // `message1`: what another worker read from it already (a resume moved here). `peer`: the agent's
  // address from a trusted balancer's PROXY header; empty: the socket's own peer.
  Result<void> adopt(int fd, Bytes message1 = {}, std::string peer = {});
  bool established() const noexcept { return agent_.has_value(); }
  // Sends ctx.routes to the agent, if it takes them (after the handshake, and after a reload).
  void push_routes();
  // Stream resumption. A link that resumed this handler's session carries its streams from now on;
  // a link of it still up is replaced at once (the agent knows it is gone).
  void take_over(std::unique_ptr<uv::LinkConnection> link);
  // Held past its grace (the sweep asks every second): the streams end and their targets close.
  bool grace_over(std::uint64_t now_ms) const noexcept { return held_ && now_ms >= held_until_ms_; }
  void end_session(const std::string& why);
  // After a reload: the agent's entry as it is now (a renamed entry keeps its key, and its rules are
  // found by the new name).
  void update_agent(const AgentInfo& info) { agent_ = info; }
  const crypto::PublicKey& peer() const noexcept { return agent_ ? peer_ : conn_->session().peer(); }
  // SIGTERM: no new streams; the link closes when the last stream ends.
  void drain();
  // SIGHUP: checks every open stream against the policy now in force, name and dialled address,
  // and resets those it denies (audit: "denied after reload" and the rule). Others carry on.
  void recheck_policy();
  void close(frame::CloseCode code, std::string_view reason) { conn_->close(code, reason); }
  // Drops the connection without a word (pre-authentication refusals).
  void abort() {
    quiet_ = true;  // counted and logged by the caller
    conn_->abort();
  }
  const std::string& peer_address() const noexcept { return conn_->peer_address(); }
  std::size_t streams() const noexcept { return outbound_.size(); }
  // The handshake has not completed (or never will).
  bool handshaking() const noexcept { return handshaking_; }
  // Its connection is closing (an eviction or a refusal already under way).
  bool closing() const noexcept { return !conn_ || conn_->closing(); }
  // Its message 1 (or part of it) waits unread in the socket: it was accepted in this burst and is
  // answered in this loop iteration, so it is no silent connection to evict.
  bool bytes_waiting() const noexcept { return conn_ && conn_->unread_bytes_waiting(); }
  // When its worker admitted it, in admission order: the oldest handshake is evicted first.
  std::uint64_t admitted() const noexcept { return admitted_; }
  void set_admitted(std::uint64_t n) noexcept { admitted_ = n; }

  // Name lookups one link may have on the thread pool all agents share (relay/main.cpp sizes the
  // pool at 8 times this); its further lookups wait for one of these to end.
  static constexpr std::size_t kMaxLookups = 16;
  // Name lookups one agent key may have running at once, across its links, including lookups its
  // closed links left behind: of the pool's 256 threads, one agent holds at most this many.
  static constexpr std::size_t kMaxAgentLookups = 32;
  // Links one agent key may hold at once (so at most 8 x 16 lookup threads).
  static constexpr std::size_t kMaxLinksPerAgent = 8;

 private:
  // One stream to a target. It takes the stream's events while the dialer works (a reset then
  // cancels the dial); once connected, the pipe takes them straight from the mux.
  struct Outbound final : link::StreamHandler {
    Outbound(LinkHandler& h, link::StreamId stream) : handler(h), id(stream) {}
    // Until the target answers, only the agent's early data can arrive (at most
    // link::kEarlyDataBytes, the mux's credit): it waits here and is written once connected.
    void on_data(ByteSpan bytes) override { early.insert(early.end(), bytes.begin(), bytes.end()); }
    void on_fin() override { early_fin = true; }
    void on_reset(frame::ResetCode code) override { handler.on_stream_reset(id, code); }
    void on_writable() override { pipe->on_writable(); }

    LinkHandler& handler;
    link::StreamId id;
    std::unique_ptr<uv::TcpConnection> conn;  // the target's socket
    std::unique_ptr<uv::SocketPipe> pipe;     // between it and the stream
    net::Dialer::Ptr dialer;
    Target target;
    std::optional<sockaddr_storage> dialled_addr;  // once connected: what the policy checks again
    AuditRecord audit;
    std::chrono::steady_clock::time_point started;
    std::uint64_t resumes_before = 0;  // the session's resumes when the stream opened
    Bytes early;                       // early data held while dialling
    bool early_fin = false;            // the agent's FIN came with it
    bool connected = false;
    bool dialled = false;  // the dialer has answered
  };

  void on_established(const crypto::PublicKey& peer) override;
  void on_open(link::StreamId id, const Target& target) override;
  void on_resumed() override;
  void on_closed(const Error& why) override;
  link::LinkConfig config(link::Millis handshake_timeout);
  void on_link_gone(uv::LinkConnection& link);
  // The session's streams, on the live link or held.
  link::Mux& mux() noexcept { return held_ ? *held_ : conn_->mux(); }
  // The link was lost with streams open and the session is resumable: they wait for grace_s.
  void hold(std::unique_ptr<link::Mux> mux);
  // This handler's link resumed a session another handler of this worker holds: it goes there.
  bool resume_elsewhere();
  void on_stream_reset(link::StreamId id, frame::ResetCode code);

  void refuse(link::StreamId id, AuditRecord record, frame::OpenCode code, const std::string& reason);
  void on_dialled(link::StreamId id, const net::DialResult& r);
  void on_pipe_done(link::StreamId id);
  void close_if_abusive();
  void note_budget_wait();
  void maybe_gone();
  Outbound* find(link::StreamId id);

  RelayContext& ctx_;
  std::uint64_t admitted_ = 0;
  std::string source_;
  GoneFn gone_;
  std::unique_ptr<uv::LinkConnection> conn_;                  // never null; a resumed link replaces it
  std::vector<std::unique_ptr<uv::LinkConnection>> retired_;  // replaced, closing
  crypto::PublicKey peer_{};                                  // once established
  std::optional<AgentInfo> agent_;
  std::map<link::StreamId, std::unique_ptr<Outbound>> outbound_;
  std::shared_ptr<net::LookupSlots> lookups_ = std::make_shared<net::LookupSlots>(kMaxLookups);
  bool link_gone_ = false;
  bool draining_ = false;
  bool quiet_ = false;
  bool handshaking_ = true;
  bool holds_link_ = false;  // counted in AgentDirectory's links per agent
  bool budget_wait_logged_ = false;
  crypto::CipherSuite link_suite_ = crypto::CipherSuite::ChaChaPoly;  // as counted in the metrics
  // Stream resumption: the session (in ctx_.sessions while resumable), its streams while held.
  link::SessionId session_{};
  bool in_table_ = false;
  std::unique_ptr<link::Mux> held_;
  // A held mux whose grace ran out: its streams were reset, and their pipes still name it until they
  // are gone, so it lives as long as this handler.
  std::unique_ptr<link::Mux> ended_;
  std::uint64_t held_at_ms_ = 0, held_until_ms_ = 0;
  bool just_held_ = false;  // hold() ran; on_closed() says why the link was lost
  std::uint64_t resumes_ = 0;
  std::uint64_t resent_before_ = 0;
  bool moved_ = false;      // handed to another handler or worker: says nothing of its end
  bool replacing_ = false;  // take_over() ends the link a resumed one replaces
};

}  // namespace ferry::relay

// One agent's link at the relay: the Noise responder on an accepted TCP connection, and for every
// stream the agent opens, a policy check, a Dialer and then a SocketPipe to the target.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>

#include "common/uv/link_connection.hpp"
#include "common/uv/socket_pipe.hpp"
#include "relay/agent_directory.hpp"
#include "relay/audit.hpp"
#include "relay/dialer.hpp"
#include "relay/link_placement.hpp"
#include "relay/metrics.hpp"
#include "relay/refusal_log_rate.hpp"

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
  DialOptions dial;
  std::uint64_t idle_timeout_ms = 900'000;
  std::size_t max_streams = 4096;
  link::Millis handshake_timeout{5000};
  crypto::SuiteSet link_suites{crypto::CipherSuite::ChaChaPoly};
  // Where this worker's links are counted (handshakes in progress, and links per worker).
  LinkPlacement* placement = nullptr;
  std::size_t worker = 0;
  // How many handshake refusals get a log line (shared by every worker).
  RefusalLogRate* refusal_log = nullptr;
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
  Result<void> adopt(int fd);
  bool established() const noexcept { return agent_.has_value(); }
  // After a reload: the agent's entry as it is now (a renamed entry keeps its key, and its rules are
  // found by the new name).
  void update_agent(const AgentInfo& info) { agent_ = info; }
  const crypto::PublicKey& peer() const noexcept { return conn_.session().peer(); }
  // SIGTERM: no new streams; the link closes when the last stream ends.
  void drain();
  // SIGHUP: checks every open stream against the policy now in force, name and dialled address,
  // and resets those it denies (audit: "denied after reload" and the rule). Others carry on.
  void recheck_policy();
  void close(frame::CloseCode code, std::string_view reason) { conn_.close(code, reason); }
  // Drops the connection without a word (pre-authentication refusals).
  void abort() {
    quiet_ = true;  // counted and logged by the caller
    conn_.abort();
  }
  const std::string& peer_address() const noexcept { return conn_.peer_address(); }
  std::size_t streams() const noexcept { return outbound_.size(); }
  // The handshake has not completed (or never will).
  bool handshaking() const noexcept { return handshaking_; }
  // Its connection is closing (an eviction or a refusal already under way).
  bool closing() const noexcept { return conn_.closing(); }
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
    void on_data(ByteSpan bytes) override { pipe->on_data(bytes); }
    void on_fin() override { pipe->on_fin(); }
    void on_reset(frame::ResetCode code) override { handler.on_stream_reset(id, code); }
    void on_writable() override { pipe->on_writable(); }

    LinkHandler& handler;
    link::StreamId id;
    std::unique_ptr<uv::TcpConnection> conn;  // the target's socket
    std::unique_ptr<uv::SocketPipe> pipe;     // between it and the stream
    Dialer::Ptr dialer;
    Target target;
    std::optional<sockaddr_storage> dialled_addr;  // once connected: what the policy checks again
    AuditRecord audit;
    std::chrono::steady_clock::time_point started;
    bool connected = false;
    bool dialled = false;  // the dialer has answered
  };

  void on_established(const crypto::PublicKey& peer) override;
  void on_open(link::StreamId id, const Target& target) override;
  void on_closed(const Error& why) override;
  void on_stream_reset(link::StreamId id, frame::ResetCode code);

  void refuse(link::StreamId id, AuditRecord record, frame::OpenCode code, const std::string& reason);
  void on_dialled(link::StreamId id, const DialResult& r);
  void on_pipe_done(link::StreamId id);
  void close_if_abusive();
  void note_budget_wait();
  void maybe_gone();
  Outbound* find(link::StreamId id);

  RelayContext& ctx_;
  std::uint64_t admitted_ = 0;
  std::string source_;
  GoneFn gone_;
  uv::LinkConnection conn_;
  std::optional<AgentInfo> agent_;
  std::map<link::StreamId, std::unique_ptr<Outbound>> outbound_;
  std::shared_ptr<LookupSlots> lookups_ = std::make_shared<LookupSlots>(kMaxLookups);
  bool link_gone_ = false;
  bool draining_ = false;
  bool quiet_ = false;
  bool handshaking_ = true;
  bool holds_link_ = false;  // counted in AgentDirectory's links per agent
  bool budget_wait_logged_ = false;
  crypto::CipherSuite link_suite_ = crypto::CipherSuite::ChaChaPoly;  // as counted in the metrics
};

}  // namespace ferry::relay

// The agent's end of the link: connects to the relay (its one name resolved here), pins the relay's
// key, reconnects with jittered exponential backoff, and opens streams for their handlers (the client
// sessions, bound in the mux: a stream's events go to them directly). While the link is down, an
// open() waits at most kOpenWaitMs for it, then fails with "relay unreachable": a client never hangs.
// A stream the relay had not answered when it was reset or its link went down gets a failed open
// result (Mux), so its handler answers its client with the error reply (SOCKS 0x01, HTTP 502).
//
// It is the StreamLink of its streams: a StreamRef names the connection (generation) it was opened
// on, and finds no mux once that connection is gone.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "agent/cipher_choice.hpp"
#include "common/config/agent_config.hpp"
#include "common/link/stream_ref.hpp"
#include "common/uv/link_connection.hpp"

namespace ferry::agent {

class LinkClient;

struct LinkStatus {
  std::string state;  // "connecting", "up", "down"
  std::string relay;
  std::string cipher;  // the link's, while it is established
  std::optional<std::int64_t> rtt_ms;
  std::size_t streams = 0;
  std::uint64_t bytes_sent = 0, bytes_received = 0;
  std::optional<std::int64_t> connected_for_s;
  std::string last_error;
  std::string session;             // the session id's first 8 hex digits, once a link came up
  bool resumable = false;          // the relay holds this link's streams while it is lost
  bool held = false;               // lost, its streams waiting for a resumed link
  std::uint64_t resumes = 0;       // lost links this session's streams lived through
  std::string last_resume_reason;  // why the link was lost the last time it resumed
  int wire_version = 0;            // while established: 2 with stream resumption, else 1
  std::uint16_t grace_s = 0;       // how long the relay holds this session's streams when lost
};

// How a link of a pool (link_pool.hpp) takes turns: `may_connect` is asked before each connection
// attempt (false parks the link until LinkClient::poke()), `on_change` is told when the link comes up
// or an attempt ends.
struct LinkPoolHooks {
  std::size_t index = 0, size = 1;  // index 0 is the primary
  // The others offer the cipher the primary's relay answered with (and lists), instead of each
  // finding out for itself under cipher = "auto".
  const LinkClient* primary = nullptr;
  std::function<bool()> may_connect;
  std::function<void()> on_change;
  // The relay pushed its route list (after the handshake, and after each reload).
  std::function<void(const frame::Routes&)> on_routes;
};

class LinkClient final : public link::LinkEvents, public link::StreamLink {
 public:
  static constexpr std::uint64_t kOpenWaitMs = 5000;
  static constexpr std::uint64_t kBackoffFirstMs = 250;
  static constexpr std::uint64_t kBackoffMaxMs = 30'000;
  // While streams wait for a resume, reconnects back off to at most this.
  static constexpr std::uint64_t kHeldBackoffMaxMs = 2000;

  LinkClient(uv_loop_t* loop, const config::AgentConfig& cfg, const crypto::SecretKey& key,
             LinkPoolHooks hooks = {});
  ~LinkClient() override;
  LinkClient(const LinkClient&) = delete;
  LinkClient& operator=(const LinkClient&) = delete;

  void start();
  // Asks the relay for a stream to `target`: `handler` gets on_open_sent() with the stream's ref once
  // the OPEN is out, then on_open_result(); or only a failed on_open_result() (no link in time, a
  // limit). A handler going away resets the refs it holds and calls cancel().
  // `deadline_ms` (uv_now): when waiting for the link gives up; 0 is kOpenWaitMs from now. An open
  // handed over from another link or relay keeps the deadline it had, so no hand-over extends a wait.
  void open(const Target& target, link::StreamHandler* handler, std::uint64_t deadline_ms = 0);
  // Forgets the opens of `handler` that still wait for the link (an OPEN sent is its ref's to reset).
  void cancel(link::StreamHandler* handler);
  // Opens waiting for this link to come up go to `other` instead (a pool's link that is up), or to
  // `open` (another relay's pool).
  using OpenFn = std::function<void(const Target&, link::StreamHandler*, std::uint64_t deadline_ms)>;
  void hand_over_waiting(LinkClient& other);
  void hand_over_waiting(const OpenFn& open);
  // Another relay takes new streams: this link takes none; its connection is set aside to finish its
  // streams (and close), and no new one is made until poke() (the pool's may_connect decides).
  void wind_down(const std::string& why);
  // Streams of a lost link wait to be resumed on the next one.
  bool holds_session() const noexcept { return held_ != nullptr; }
  // A parked link (may_connect said no) asks again.
  void poke();
  // The network may have changed: an established link is probed (a PING that must be answered
  // within link::LinkTimers::kProbeMs, or the link is dead and replaced at once); one waiting out
  // its backoff tries again now.
  void probe();
  // Resolving, connecting or in the handshake: what a pool lets one link at a time do, since the
  // relay takes each agent's handshake timestamps in order only (replay protection).
  bool connecting() const noexcept { return resolving_ || (conn_ != nullptr && !handshake_done_); }
  // Bytes sent and received over every link this client has had.
  std::uint64_t bytes_moved() const noexcept;
  std::size_t stream_count() const noexcept;
  // The relay's suites from its message 2, while this link is established (none before).
  crypto::SuiteSet relay_suites() const noexcept;
  // Drains and stops (SIGTERM): `done` runs once the link is closed.
  void stop(std::function<void()> done);
  // The current link's mux, also while it drains after GOAWAY (open streams finish on it).
  link::Mux* mux() noexcept { return conn_ && conn_->session().established() ? &conn_->mux() : nullptr; }
  // New streams can be opened: established and not draining.
  // Not while a probe is unanswered: a new stream waits to learn whether this link is alive.
  bool up() const noexcept { return conn_ && established_ && !probing_; }
  // Changes with every new link: stream ids restart at 1, so credit for an old stream must not be
  // given to a new one that happens to share its id.
  std::uint64_t generation() const noexcept { return generation_; }
  // StreamLink: the current link's mux if `generation` is its own; while the link is lost and its
  // streams wait for a resume, their mux, which queues what they send.
  link::Mux* mux_of(std::uint64_t generation) noexcept override;
  LinkStatus status() const;

 private:
  struct Waiting {
    Target target;
    link::StreamHandler* handler;
    std::uint64_t deadline_ms;
  };
  void connect();
  // The suite the next handshake offers (agent.toml [relay] cipher; "auto" is docs/protocol.md 2.5).
  crypto::CipherSuite next_suite() const noexcept;
  void on_resolved(int status, addrinfo* res);
  // The next attempt after the backoff, or `at_once`.
  void schedule_reconnect(bool at_once = false);
  void maybe_stopped();
  void retire();
  // The relay drains (GOAWAY): the link's open streams finish on it, set aside, while a new link is
  // made at once for new streams (behind a load balancer it reaches another relay).
  void set_aside_draining(const std::string& state, const std::string& why);
  void set_state(const std::string& state, const std::string& detail);
  void fail_waiting(bool all);
  void arm_wait_timer();
  void open_now(const Target& target, link::StreamHandler* handler);

  void on_established(const crypto::PublicKey& peer) override;
  void on_goaway(const frame::GoAway& g) override;
  void on_alive() override;
  void on_resumed() override;
  void on_routes(const frame::Routes& routes) override;
  void on_closed(const Error& why) override;

  // Stream resumption (docs/protocol.md 4.13). The link was lost with streams open: they wait in
  // their mux for the next link to resume the session, for at most the relay's grace.
  void keep_streams(std::unique_ptr<link::Mux> mux);
  // The session is not coming back (the relay answered with a new one, the grace ran out, the agent
  // stops): its streams end at once, so no client waits on them.
  void drop_held(const std::string& why);

  uv_loop_t* loop_;
  const config::AgentConfig& cfg_;
  const crypto::SecretKey& key_;
  LinkPoolHooks hooks_;
  std::string name_;    // in logs: "link" (the primary) or "link 2 of 2"
  std::string prefix_;  // before other log lines: "" (the primary) or "link 2 of 2: "
  bool parked_ = false;
  std::string host_, port_;
  std::unique_ptr<uv::LinkConnection> conn_;
  std::vector<std::unique_ptr<uv::LinkConnection>> retired_;  // closing; freed when gone
  // Links set aside after GOAWAY, each with the generation of its streams' refs; freed when gone.
  // Their events come to their own Draining: only their end matters.
  struct Draining final : link::LinkEvents {
    std::uint64_t generation = 0;
    std::unique_ptr<uv::LinkConnection> conn;
    void on_closed(const Error&) override {}
  };
  std::vector<std::unique_ptr<Draining>> draining_;
  bool established_ = false;     // up and taking new streams (not after GOAWAY)
  bool handshake_done_ = false;  // the current conn_ completed its handshake
  bool stopping_ = false;
  bool probing_ = false;  // a probe of this link is unanswered
  std::function<void()> stopped_;
  uv::HandleGroup handles_;  // before the handles: they count in it
  uv::Handle<uv_timer_t> retry_{handles_};
  uv::Handle<uv_timer_t> wait_timer_{handles_};
  uv_getaddrinfo_t resolve_{};
  bool resolving_ = false;
  std::uint64_t backoff_ms_ = kBackoffFirstMs;
  bool limit_refused_ = false;  // the relay's last CLOSE said Limit (logged once)
  crypto::CipherSuite attempt_suite_ = crypto::CipherSuite::ChaChaPoly;  // of the current link
  // When the relay last said GOAWAY (uv_now; 0: never). The reconnect that follows at once may reach
  // one of its workers whose listener is still closing, which resets the connection: an attempt
  // that began within kAfterGoawayMs of it says nothing about the relay's ciphers.
  static constexpr std::uint64_t kAfterGoawayMs = 2000;
  std::uint64_t goaway_at_ms_ = 0;
  std::uint64_t attempt_at_ms_ = 0;
  CipherChoice cipher_;           // the primary's: what its handshakes offer
  std::vector<Waiting> waiting_;  // in deadline order
  std::string state_ = "connecting";
  std::string last_error_;
  std::chrono::steady_clock::time_point connected_at_;
  std::uint64_t past_sent_ = 0, past_received_ = 0;
  std::uint64_t generation_ = 0;
  // The session of the current or last link, and its lost streams while they wait.
  link::SessionId session_{};
  bool resumable_ = false;
  std::uint16_t grace_s_ = 0;
  std::unique_ptr<link::Mux> held_;
  std::uint64_t held_at_ms_ = 0;
  std::string lost_reason_;
  bool just_kept_ = false;           // keep_streams() ran; on_closed() says why the link was lost
  std::uint64_t resent_before_ = 0;  // the mux's resent bytes when the resume began
  std::uint64_t resumes_ = 0;
  std::string last_resume_reason_;
  uv::Handle<uv_timer_t> grace_timer_{handles_};
};

}  // namespace ferry::agent

// The link over a real loopback TCP connection between two loops on two threads: 1 GiB through 64
// concurrent streams with every byte checked, then a stalled reader that must not stop the others.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <future>
#include <map>
#include <thread>

#include "common/uv/link_activity.hpp"
#include "common/uv/link_connection.hpp"
#include "common/uv/loop.hpp"
#include "common/uv/tcp_listener.hpp"
#include "tests/unit/test_util.hpp"

using namespace ferry;

namespace {

constexpr std::uint64_t kWatchdogMs = 600'000;

struct Plan {
  int streams = 64;
  std::uint64_t bytes_per_stream = 16ull << 20;  // 64 x 16 MiB = 1 GiB
  std::string stalled_name;                      // the relay never reads streams to this host
};

// Relay side: accepts one link, checks every byte against the pattern, echoes FIN.
class RelaySide final : public link::LinkEvents {
 public:
  RelaySide(uv::Loop& loop, const crypto::SecretKey& key, const crypto::PublicKey& agent, const Plan& plan)
      : loop_(loop),
        key_(key),
        plan_(plan),
        listener_(loop.get(), [this](uv_stream_t* s) { on_connection(s); }) {
    admission_.allowed = agent;
    auto addr = uv::parse_socket_address("127.0.0.1:0");
    REQUIRE(listener_.listen(reinterpret_cast<const sockaddr*>(&*addr)));
    uv_timer_init(loop.get(), &watchdog_);
    watchdog_.data = this;
    uv_timer_start(
        &watchdog_, [](uv_timer_t* t) { static_cast<RelaySide*>(t->data)->stop(true); }, kWatchdogMs, 0);
  }
  int port() const { return listener_.local_port(); }

  std::uint64_t verified = 0, mismatches = 0, stalled_bytes = 0;
  int fins = 0;
  bool timed_out = false;
  std::optional<Error> closed;

 private:
  struct Admit : link::Admission {
    crypto::PublicKey allowed;
    crypto::Tai64n last{};
    bool admit(const crypto::PublicKey& k) override { return k == allowed; }
    bool fresh(const crypto::PublicKey&, const crypto::Tai64n& ts) override {
      if (!crypto::newer(ts, last)) return false;
      last = ts;
      return true;
    }
  };

  void on_connection(uv_stream_t* server) {
    link::LinkConfig c;
    c.role = link::LinkConfig::Role::Responder;
    c.static_key = &key_;
    c.admission = &admission_;
    conn_ = std::make_unique<uv::LinkConnection>(loop_.get(), c, *this,
                                                 [this](uv::LinkConnection&) { stop(false); });
    REQUIRE(conn_->accept(server));
  }
  void stop(bool timeout) {
    timed_out = timed_out || timeout;
    if (conn_ && timeout) conn_->abort();
    listener_.close();
    uv_close(reinterpret_cast<uv_handle_t*>(&watchdog_), nullptr);
  }

  void on_open(link::StreamId id, const Target& t) override {
    if (t.name == plan_.stalled_name) stalled_.push_back(id);
    offsets_[id] = 0;
    conn_->mux().accept(id, frame::OpenCode::Ok);
  }
  void on_data(link::StreamId id, ByteSpan b) override {
    if (std::find(stalled_.begin(), stalled_.end(), id) != stalled_.end()) {
      stalled_bytes += b.size();  // never consumed: no credit goes back
      return;
    }
    expect_.resize(b.size());
    test::pattern(id, offsets_[id], expect_);
    if (std::memcmp(expect_.data(), b.data(), b.size()) != 0) ++mismatches;
    offsets_[id] += b.size();
    verified += b.size();
    conn_->mux().consumed(id, b.size(), loop_.now());
  }
  void on_fin(link::StreamId id) override {
    if (offsets_[id] == plan_.bytes_per_stream) ++fins;
    conn_->mux().finish(id);
  }
  void on_reset(link::StreamId, frame::ResetCode) override {}
  void on_closed(const Error& why) override { closed = why; }

  uv::Loop& loop_;
  const crypto::SecretKey& key_;
  const Plan& plan_;
  Admit admission_;
  uv::TcpListener listener_;
  uv_timer_t watchdog_{};
  std::unique_ptr<uv::LinkConnection> conn_;
  std::map<link::StreamId, std::uint64_t> offsets_;
  std::vector<link::StreamId> stalled_;
  Bytes expect_;
};

// Agent side: opens the streams, writes the pattern while send() allows, then FINs.
class AgentSide final : public link::LinkEvents {
 public:
  AgentSide(uv::Loop& loop, const crypto::SecretKey& key, const crypto::PublicKey& relay, int port,
            const Plan& plan)
      : loop_(loop), plan_(plan), chunk_(64 * 1024) {
    link::LinkConfig c;
    c.role = link::LinkConfig::Role::Initiator;
    c.static_key = &key;
    c.peer_key = relay;
    conn_ =
        std::make_unique<uv::LinkConnection>(loop.get(), c, *this, [this](uv::LinkConnection&) { gone(); });
    auto addr = uv::parse_socket_address("127.0.0.1:" + std::to_string(port));
    REQUIRE(conn_->connect(reinterpret_cast<const sockaddr*>(&*addr)));
    uv_timer_init(loop.get(), &watchdog_);
    uv_timer_init(loop.get(), &after_end_);
    watchdog_.data = after_end_.data = this;
    uv_timer_start(
        &watchdog_,
        [](uv_timer_t* t) {
          auto* self = static_cast<AgentSide*>(t->data);
          self->timed_out = true;
          self->conn_->abort();
        },
        kWatchdogMs, 0);
  }

  int done = 0;
  bool timed_out = false;
  std::size_t stalled_queue_max = 0;
  std::optional<Error> closed;
  // What another link of this thread saw (uv::link_activity): crowded while the streams moved
  // bytes, and no longer once they had all ended (checked on the next loop iteration).
  bool crowded_while_moving = false;
  std::optional<bool> crowded_after_end;

 private:
  void gone() {
    uv_close(reinterpret_cast<uv_handle_t*>(&watchdog_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&after_end_), nullptr);
  }
  bool crowded() const { return uv::link_activity::crowded(loop_.get(), &other_link_, uv_now(loop_.get())); }

  void on_established(const crypto::PublicKey&) override {
    for (int i = 0; i < plan_.streams; ++i) {
      auto id = conn_->mux().open(Target::host("bulk.example", 9));
      REQUIRE(id);
      sent_[*id] = 0;
    }
    if (!plan_.stalled_name.empty()) {
      auto id = conn_->mux().open(Target::host(plan_.stalled_name, 9));
      REQUIRE(id);
      stalled_ = *id;
    }
  }
  void on_open_result(link::StreamId id, const frame::OpenResult& r) override {
    REQUIRE(r.code == frame::OpenCode::Ok);
    pump(id);
  }
  void on_writable(link::StreamId id) override { pump(id); }
  void pump(link::StreamId id) {
    if (id == stalled_) {  // offer far more than any window; the mux must push back
      while (conn_->mux().send(id, chunk_)) {
      }
      stalled_queue_max = std::max(stalled_queue_max, conn_->mux().queued(id));
      return;
    }
    crowded_while_moving = crowded_while_moving || crowded();
    auto& off = sent_[id];
    while (off < plan_.bytes_per_stream) {
      const std::size_t n = std::min<std::uint64_t>(chunk_.size(), plan_.bytes_per_stream - off);
      test::pattern(id, off, MutByteSpan(chunk_).first(n));
      off += n;
      if (!conn_->mux().send(id, ByteSpan(chunk_).first(n))) break;
    }
    if (off == plan_.bytes_per_stream) conn_->mux().finish(id);
  }
  void on_data(link::StreamId, ByteSpan) override {}
  void on_fin(link::StreamId id) override {
    if (id == stalled_) return;
    if (++done == plan_.streams) {
      if (stalled_) {
        stalled_queue_max = std::max(stalled_queue_max, conn_->mux().queued(stalled_));
        conn_->mux().reset(stalled_, frame::ResetCode::Cancel);
      }
      uv_timer_start(  // once this read is over (the link checks its streams after each read)
          &after_end_,
          [](uv_timer_t* t) {
            auto* self = static_cast<AgentSide*>(t->data);
            self->crowded_after_end = self->crowded();
            self->conn_->close(frame::CloseCode::Normal, "test done");
          },
          0, 0);
    }
  }
  void on_reset(link::StreamId, frame::ResetCode) override {}
  void on_closed(const Error& why) override { closed = why; }

  uv::Loop& loop_;
  const Plan& plan_;
  Bytes chunk_;
  uv_timer_t watchdog_{}, after_end_{};
  int other_link_ = 0;  // its address names a second link of this thread
  std::unique_ptr<uv::LinkConnection> conn_;
  std::map<link::StreamId, std::uint64_t> sent_;
  link::StreamId stalled_ = 0;
};

struct Outcome {
  std::uint64_t verified = 0, mismatches = 0, stalled_bytes = 0;
  int relay_fins = 0, agent_done = 0;
  std::size_t stalled_queue_max = 0;
  bool timed_out = false;
  bool crowded_while_moving = false;
  std::optional<bool> crowded_after_end;
  std::optional<Error> agent_closed, relay_closed;
  int relay_loop_close = -1, agent_loop_close = -1;
};

Outcome run(const Plan& plan) {
  const auto agent_key = crypto::SecretKey::generate();
  const auto relay_key = crypto::SecretKey::generate();
  Outcome out;
  std::promise<int> port;
  std::thread relay_thread([&] {
    uv::Loop loop;
    {
      RelaySide relay(loop, relay_key, agent_key.public_key(), plan);
      port.set_value(relay.port());
      loop.run();
      out.verified = relay.verified;
      out.mismatches = relay.mismatches;
      out.stalled_bytes = relay.stalled_bytes;
      out.relay_fins = relay.fins;
      out.relay_closed = relay.closed;
      out.timed_out |= relay.timed_out;
    }
    out.relay_loop_close = loop.close();
  });
  const int p = port.get_future().get();
  {
    uv::Loop loop;
    {
      AgentSide agent(loop, agent_key, relay_key.public_key(), p, plan);
      loop.run();
      out.agent_done = agent.done;
      out.stalled_queue_max = agent.stalled_queue_max;
      out.crowded_while_moving = agent.crowded_while_moving;
      out.crowded_after_end = agent.crowded_after_end;
      out.agent_closed = agent.closed;
      out.timed_out |= agent.timed_out;
    }
    out.agent_loop_close = loop.close();
  }
  relay_thread.join();
  return out;
}

}  // namespace

TEST_CASE("1 GiB through 64 concurrent streams over loopback TCP, every byte checked", "[slow][tcp]") {
  Plan plan;
  const auto o = run(plan);
  CHECK_FALSE(o.timed_out);
  CHECK(o.mismatches == 0);
  CHECK(o.verified == 1ull << 30);
  CHECK(o.relay_fins == 64);
  CHECK(o.agent_done == 64);
  // A second link of the agent's thread would have taken short read turns during the transfer, and
  // large ones again right after its last stream ended.
  CHECK(o.crowded_while_moving);
  CHECK(o.crowded_after_end == false);
  REQUIRE(o.relay_closed);
  CHECK(o.relay_closed->code == Errc::Closed);  // the agent's authenticated CLOSE arrived
  CHECK(o.agent_loop_close == 0);               // no handle leaked on either loop
  CHECK(o.relay_loop_close == 0);
}

TEST_CASE("a stalled reader on one stream does not stop the others (loopback TCP)", "[tcp]") {
  Plan plan;
  plan.streams = 8;
  plan.bytes_per_stream = 8ull << 20;
  plan.stalled_name = "stalled.example";
  const auto o = run(plan);
  CHECK_FALSE(o.timed_out);
  CHECK(o.mismatches == 0);
  CHECK(o.verified == 64ull << 20);
  CHECK(o.agent_done == 8);
  // The stalled stream received its initial window and nothing more, and the agent's queue for it
  // stayed bounded (the owner was told to stop reading).
  CHECK(o.stalled_bytes == link::MuxLimits{}.initial_window);
  CHECK(o.stalled_queue_max <= link::MuxLimits{}.send_high_water + 64 * 1024);
  CHECK(o.agent_loop_close == 0);
  CHECK(o.relay_loop_close == 0);
}

namespace {

// A loopback listener that never accepts, with a backlog of 0: the first connection fills its
// accept queue, and the kernel then drops every further SYN, as a path that lost the network does.
struct BlackHole {
  int listen_fd = -1, filler_fd = -1;
  int port = 0;
  BlackHole() {
    sockaddr_in a{};
    listen_fd = test::listen_on_loopback(0, a);
    port = ntohs(a.sin_port);
    filler_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(::connect(filler_fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  }
  ~BlackHole() {
    ::close(filler_fd);
    ::close(listen_fd);
  }
};

struct ConnectWatcher final : link::LinkEvents {
  std::optional<Error> closed;
  void on_data(link::StreamId, ByteSpan) override {}
  void on_fin(link::StreamId) override {}
  void on_reset(link::StreamId, frame::ResetCode) override {}
  void on_closed(const Error& why) override { closed = why; }
};

}  // namespace

TEST_CASE("a connect that is never answered ends after the handshake timeout", "[tcp]") {
  BlackHole hole;
  const auto agent_key = crypto::SecretKey::generate();
  const auto relay_key = crypto::SecretKey::generate();
  uv::Loop loop;
  ConnectWatcher events;
  // Without a connect timeout the kernel would retry for minutes; this guard fails the test first.
  struct Guard {
    uv_timer_t timer{};
    uv::LinkConnection* conn = nullptr;
    bool fired = false;
  } guard;
  bool gone = false;
  link::Instant closed_at{0};
  const link::Instant start = loop.now();
  {
    link::LinkConfig c;
    c.role = link::LinkConfig::Role::Initiator;
    c.static_key = &agent_key;
    c.peer_key = relay_key.public_key();
    c.handshake_timeout = link::Millis(300);
    uv::LinkConnection conn(loop.get(), c, events, [&](uv::LinkConnection&) {
      gone = true;
      closed_at = loop.now();
      uv_close(reinterpret_cast<uv_handle_t*>(&guard.timer), nullptr);
    });
    guard.conn = &conn;
    guard.timer.data = &guard;
    uv_timer_init(loop.get(), &guard.timer);
    uv_timer_start(
        &guard.timer,
        [](uv_timer_t* t) {
          auto* g = static_cast<Guard*>(t->data);
          g->fired = true;
          g->conn->abort();
        },
        5000, 0);
    auto addr = uv::parse_socket_address("127.0.0.1:" + std::to_string(hole.port));
    REQUIRE(conn.connect(reinterpret_cast<const sockaddr*>(&*addr)));
    loop.run();
  }
  CHECK(gone);
  CHECK_FALSE(guard.fired);
  REQUIRE(events.closed);
  CHECK(events.closed->code == Errc::Timeout);
  CHECK((closed_at - start) >= link::Millis(300));
  CHECK((closed_at - start) < link::Millis(4500));  // the guard fires at 5 s
  CHECK(loop.close() == 0);
}

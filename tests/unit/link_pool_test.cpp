// The agent's pool of links (agent/link_pool.hpp) against a relay stand-in that takes any number of
// links over loopback: links come up one at a time, new streams go to the quieter link, a lost or
// drained (GOAWAY) link comes back without disturbing the others, opens made while no link is up
// wait for one, and stop() ends cleanly. Agent and relay share one loop, run by the test thread in
// bounded steps; the last case: a drained link comes back with the cipher it had.
#include "agent/link_pool.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/config/relay_config.hpp"
#include "common/uv/link_connection.hpp"
#include "common/uv/loop.hpp"
#include "common/uv/tcp_listener.hpp"

using namespace ferry;
using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;

link::Instant loop_now(uv_loop_t* loop) { return link::Instant(static_cast<std::int64_t>(uv_now(loop))); }

ByteSpan as_bytes(std::string_view text) {
  return ByteSpan(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
}

// What the relay stand-in saw, in order. The pool promises that link k+1's TCP connection arrives
// only after link k finished its handshake (the relay takes an agent's timestamps in order only).
struct RelayEvent {
  enum class Kind { Accepted, Established };
  Kind kind;
  std::size_t link;  // the relay's link index, in accept order
  friend bool operator==(const RelayEvent&, const RelayEvent&) = default;
};

}  // namespace

namespace Catch {
template <>
struct StringMaker<RelayEvent> {
  static std::string convert(const RelayEvent& e) {
    return (e.kind == RelayEvent::Kind::Accepted ? "accepted " : "established ") + std::to_string(e.link);
  }
};
}  // namespace Catch

namespace {

// The real relay's replay rule (relay/agent_directory.cpp): per agent key, each first handshake's
// TAI64N must be strictly newer than the newest accepted. Refusals are counted, so a test sees a pool
// whose links raced each other's handshakes.
class ReplayGate final : public link::Admission {
 public:
  explicit ReplayGate(const crypto::PublicKey& agent) : allowed_(agent) {}
  bool admit(const crypto::PublicKey& initiator) override { return initiator == allowed_; }
  bool fresh(const crypto::PublicKey& initiator, const crypto::Tai64n& timestamp) override {
    auto [it, inserted] = newest_.try_emplace(initiator.bytes, timestamp);
    if (!inserted) {
      if (!crypto::newer(timestamp, it->second)) {
        ++refused;
        return false;
      }
      it->second = timestamp;
    }
    ++accepted;
    return true;
  }
  int accepted = 0, refused = 0;

 private:
  crypto::PublicKey allowed_;
  std::map<std::array<std::uint8_t, crypto::kKeyBytes>, crypto::Tai64n> newest_;
};

// A relay that accepts any number of links from one agent: it answers every OPEN with OK, echoes
// each stream's bytes (and its FIN), and can close, abort or drain a chosen link. Links are kept in
// accept order and never freed before the relay, so a test can look at a finished one.
class PoolRelay {
 public:
  struct Link final : link::LinkEvents {
    Link(PoolRelay& owner, std::size_t accepted_as) : relay(owner), index(accepted_as) {}
    PoolRelay& relay;
    const std::size_t index;
    std::unique_ptr<uv::LinkConnection> conn;
    bool established = false;
    bool gone = false;                         // every handle of the connection is closed
    std::optional<Error> closed;               // why the link ended, once it did
    std::vector<link::StreamId> streams_seen;  // in OPEN order

    void on_established(const crypto::PublicKey&) override {
      established = true;
      relay.events.push_back({RelayEvent::Kind::Established, index});
    }
    void on_open(link::StreamId id, const Target&) override {
      streams_seen.push_back(id);
      conn->mux().accept(id, frame::OpenCode::Ok);
    }
    void on_data(link::StreamId id, ByteSpan bytes) override {
      // Queued (copied) whatever the agent's window: the tests' owners consume echoes at once.
      conn->mux().send(id, bytes);
      conn->mux().consumed(id, bytes.size(), loop_now(relay.loop_));
    }
    void on_fin(link::StreamId id) override { conn->mux().finish(id); }
    void on_reset(link::StreamId, frame::ResetCode) override {}
    void on_closed(const Error& why) override { closed = why; }
  };

  // `port` 0: the kernel picks one. Otherwise the port of a RefusingPort, bound beside it.
  PoolRelay(uv_loop_t* loop, const crypto::SecretKey& key, const crypto::PublicKey& agent, int port = 0)
      : loop_(loop), key_(key), gate_(agent), listener_(loop, [this](uv_stream_t* s) { on_connection(s); }) {
    const auto addr = uv::parse_socket_address("127.0.0.1:" + std::to_string(port));
    REQUIRE(addr);
    REQUIRE(listener_.listen(reinterpret_cast<const sockaddr*>(&*addr), 64, port != 0));
  }

  int port() const { return listener_.local_port(); }
  std::size_t accepted() const { return links_.size(); }
  Link& link(std::size_t i) { return *links_.at(i); }
  int handshakes() const { return gate_.accepted; }
  int replays_refused() const { return gate_.refused; }

  // An authenticated CLOSE, as a relay that ends one link sends.
  void close_link(std::size_t i) { link(i).conn->close(frame::CloseCode::Shutdown, "test relay closes it"); }
  // The socket drops without a CLOSE record, as when the path breaks.
  void abort_link(std::size_t i) { link(i).conn->abort(); }
  // No new streams on this link; its open streams may finish (a relay that drains).
  void goaway(std::size_t i) { link(i).conn->mux().goaway("test relay drains this link"); }
  // Connections from this many accepted links on wait in the listener, unaccepted: their handshake
  // stalls (the agent's link stays "connecting") until release_held().
  std::optional<std::size_t> hold_from;
  bool holding() const { return held_server_ != nullptr; }
  void release_held() {
    hold_from.reset();
    if (uv_stream_t* server = std::exchange(held_server_, nullptr)) accept_from(server);
  }
  void stop() {
    listener_.close();
    for (auto& l : links_)
      if (!l->gone) l->conn->abort();
  }

  std::vector<RelayEvent> events;
  // Called as each connection is accepted, with its index (before its handshake).
  std::function<void(std::size_t)> on_accept;

 private:
  void on_connection(uv_stream_t* server) {
    // libuv stops watching the listener until this one is accepted, so at most one is held.
    if (hold_from && links_.size() >= *hold_from) return void(held_server_ = server);
    accept_from(server);
  }
  void accept_from(uv_stream_t* server) {
    link::LinkConfig c;
    c.role = link::LinkConfig::Role::Responder;
    c.static_key = &key_;
    c.admission = &gate_;
    c.accept_suites = config::link_suites(config::RelayConfig{});  // what a relay with defaults takes
    auto l = std::make_unique<Link>(*this, links_.size());
    Link* raw = l.get();
    l->conn =
        std::make_unique<uv::LinkConnection>(loop_, c, *l, [raw](uv::LinkConnection&) { raw->gone = true; });
    links_.push_back(std::move(l));
    events.push_back({RelayEvent::Kind::Accepted, raw->index});
    if (on_accept) on_accept(raw->index);
    if (!raw->conn->accept(server)) raw->conn->abort();
  }

  uv_loop_t* loop_;
  const crypto::SecretKey& key_;
  ReplayGate gate_;
  uv::TcpListener listener_;
  std::vector<std::unique_ptr<Link>> links_;
  uv_stream_t* held_server_ = nullptr;
};

// A loopback port where connections are refused (bound, never listening). SO_REUSEPORT lets a
// PoolRelay listen on it later while it is still held, so no other process can take the port between
// the agent's first, refused attempt and the relay coming up.
struct RefusingPort {
  int fd = -1;
  int port = 0;
  RefusingPort() {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) == 0);
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) == 0);
    port = ntohs(sa.sin_port);
  }
  ~RefusingPort() { ::close(fd); }
  RefusingPort(const RefusingPort&) = delete;
  RefusingPort& operator=(const RefusingPort&) = delete;
};

// A client session as the pool sees it: records every open result (which link answered, when) and
// echoes come back into `received`; received bytes are consumed at once, which returns credit to the
// relay, as a session does once it wrote them to its client.
class TestOwner final : public link::StreamHandler {
 public:
  explicit TestOwner(uv_loop_t* loop) : loop_(loop), chunk_(64 * 1024, 0x5a) {}

  struct Answer {
    link::Mux* mux;  // of the link that answered (while it is up)
    frame::OpenCode code;
    std::string reason;
    Clock::time_point at;
  };
  std::vector<Answer> answers;
  Bytes received;
  std::optional<frame::ResetCode> reset;
  Clock::time_point opened_at = Clock::now();

  bool answered() const { return !answers.empty(); }
  bool ok() const { return answers.size() == 1 && answers[0].code == frame::OpenCode::Ok; }
  std::string text() const { return std::string(received.begin(), received.end()); }

  void send(std::string_view text) {
    REQUIRE(stream_.mux());
    stream_.send(as_bytes(text));
  }
  // Queues `n` bytes, as much as the stream's queue takes now and the rest on on_writable().
  void send_bulk(std::uint64_t n) {
    bulk_left_ = n;
    pump();
  }
  bool bulk_queued() const { return bulk_left_ == 0; }

  void on_open_sent(const link::StreamRef& ref) override { stream_ = ref; }
  void on_open_result(const frame::OpenResult& r) override {
    answers.push_back({stream_.mux(), r.code, r.reason, Clock::now()});
    if (r.code != frame::OpenCode::Ok) stream_.drop();
  }
  void on_data(ByteSpan bytes) override {
    received.insert(received.end(), bytes.begin(), bytes.end());
    stream_.consumed(bytes.size(), loop_now(loop_));
  }
  void on_fin() override {}
  void on_reset(frame::ResetCode code) override { reset = code; }
  void on_writable() override { pump(); }

 private:
  void pump() {
    while (bulk_left_ > 0 && stream_.mux()) {
      const std::size_t n = std::min<std::uint64_t>(chunk_.size(), bulk_left_);
      bulk_left_ -= n;
      if (!stream_.send(ByteSpan(chunk_).first(n))) break;  // queued; wait for writable
    }
  }

  uv_loop_t* loop_;
  link::StreamRef stream_;
  std::uint64_t bulk_left_ = 0;
  Bytes chunk_;
};

// One loop for the agent's pool and the relay stand-in, stepped by the test thread: run_until()
// returns within its timeout whatever happens (a 5 ms heartbeat keeps UV_RUN_ONCE from blocking on
// a quiet loop), and finish() stops everything and reports whether the loop closed with no handle
// left.
class PoolBench {
 public:
  explicit PoolBench(std::int64_t links) {
    cfg_.links = links;
    cfg_.relay_key = relay_key_.public_key();
    uv_timer_init(loop_->get(), &heartbeat_);
    uv_timer_start(
        &heartbeat_, [](uv_timer_t*) {}, 5, 5);
  }
  ~PoolBench() { finish(); }
  PoolBench(const PoolBench&) = delete;
  PoolBench& operator=(const PoolBench&) = delete;

  uv_loop_t* loop() { return loop_->get(); }
  PoolRelay& start_relay(int port = 0) {
    relay_ = std::make_unique<PoolRelay>(loop(), relay_key_, agent_key_.public_key(), port);
    return *relay_;
  }
  PoolRelay& relay() { return *relay_; }
  agent::LinkPool& start_pool(int relay_port) {
    cfg_.relay_address = "127.0.0.1:" + std::to_string(relay_port);
    pool_ = std::make_unique<agent::LinkPool>(loop(), cfg_, agent_key_);
    pool_->start();
    return *pool_;
  }
  agent::LinkPool& pool() { return *pool_; }
  bool all_up() const {
    for (std::size_t i = 0; i < pool_->size(); ++i)
      if (!pool_->link(i).up()) return false;
    return true;
  }
  // Which of the pool's links answered the owner's open: 0 is the primary; -1 when none did.
  int link_index(const TestOwner& owner) const {
    if (!owner.answered()) return -1;
    for (std::size_t i = 0; i < pool_->size(); ++i)
      if (owner.answers[0].mux && pool_->link(i).mux() == owner.answers[0].mux) return static_cast<int>(i);
    return -1;
  }
  TestOwner& open(const std::string& host) {
    owners_.push_back(std::make_unique<TestOwner>(loop()));
    pool_->open(Target::host(host, 7), owners_.back().get());
    return *owners_.back();
  }
  // Opens a stream and waits (bounded) for the relay's answer.
  TestOwner& open_answered(const std::string& host) {
    TestOwner& o = open(host);
    REQUIRE(run_until([&] { return o.answered(); }));
    return o;
  }
  void stop_pool() {
    ++stop_requests_;
    pool_->stop([this] { ++stop_done_calls; });
  }
  int stop_done_calls = 0;

  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout = 5s) {
    const auto deadline = Clock::now() + timeout;
    while (!done()) {
      if (Clock::now() >= deadline) return false;
      uv_run(loop(), UV_RUN_ONCE);
    }
    return true;
  }
  // Lets the loop run for `d` (what must not happen meanwhile is checked afterwards).
  void run_for(std::chrono::milliseconds d) {
    const auto until = Clock::now() + d;
    run_until([&] { return Clock::now() >= until; }, d + 1s);
  }

  // Stops the pool (unless the test did) and the relay, then runs the loop until nothing is left:
  // the agent's close flush is bounded (uv::LinkConnection::kCloseFlushMs), a hanging connect by the
  // handshake timeout. Returns uv_loop_close()'s result: 0 when every handle was closed.
  int finish() {
    if (finished_) return close_result_;
    finished_ = true;
    if (pool_ && stop_requests_ == 0) stop_pool();
    if (relay_) relay_->stop();
    uv_close(reinterpret_cast<uv_handle_t*>(&heartbeat_), nullptr);
    const auto deadline = Clock::now() + 10s;
    while (uv_run(loop(), UV_RUN_NOWAIT) != 0 && Clock::now() < deadline) std::this_thread::sleep_for(1ms);
    close_result_ = loop_->close();
    if (close_result_ != 0) {  // libuv still points into these: leak them rather than free them under it
      (void)pool_.release();
      (void)relay_.release();
      for (auto& o : owners_) (void)o.release();
      (void)loop_.release();
    }
    return close_result_;
  }

 private:
  crypto::SecretKey agent_key_ = crypto::SecretKey::generate();
  crypto::SecretKey relay_key_ = crypto::SecretKey::generate();
  config::AgentConfig cfg_;
  std::unique_ptr<uv::Loop> loop_ = std::make_unique<uv::Loop>();
  uv_timer_t heartbeat_{};
  std::unique_ptr<PoolRelay> relay_;
  std::vector<std::unique_ptr<TestOwner>> owners_;  // outlive the pool, which calls them until it stops
  std::unique_ptr<agent::LinkPool> pool_;
  int stop_requests_ = 0;
  bool finished_ = false;
  int close_result_ = -1;
};

// Starts a relay and a pool of `links` and waits for every link to be up.
void bring_up(PoolBench& bench, std::int64_t links) {
  bench.start_pool(bench.start_relay().port());
  REQUIRE(bench.run_until([&] { return bench.all_up(); }));
  REQUIRE(bench.relay().accepted() == static_cast<std::size_t>(links));
}

// Sends `text` on the owner's stream and waits for the relay's echo of it.
bool echoes(PoolBench& bench, TestOwner& owner, const std::string& text) {
  const std::string expected = owner.text() + text;
  owner.send(text);
  return bench.run_until([&] { return owner.text() == expected; }, 10s);
}

}  // namespace

TEST_CASE("pool: the links come up one at a time, each handshake newer than the last", "[pool]") {
  PoolBench bench(3);
  PoolRelay& relay = bench.start_relay();
  // At each accept, which of the agent's links were up already.
  std::vector<std::vector<bool>> up_at_accept;
  relay.on_accept = [&](std::size_t) {
    std::vector<bool> up;
    for (std::size_t i = 0; i < bench.pool().size(); ++i) up.push_back(bench.pool().link(i).up());
    up_at_accept.push_back(up);
  };
  agent::LinkPool& pool = bench.start_pool(relay.port());
  REQUIRE(pool.size() == 3);
  REQUIRE(bench.run_until([&] { return bench.all_up(); }));

  using K = RelayEvent::Kind;
  CHECK(relay.events == std::vector<RelayEvent>{{K::Accepted, 0},
                                                {K::Established, 0},
                                                {K::Accepted, 1},
                                                {K::Established, 1},
                                                {K::Accepted, 2},
                                                {K::Established, 2}});
  // Link k's connection arrived while the links before it were up on the agent and none after it.
  CHECK(up_at_accept == std::vector<std::vector<bool>>{{false, false, false},  //
                                                       {true, false, false},
                                                       {true, true, false}});
  CHECK(relay.handshakes() == 3);
  CHECK(relay.replays_refused() == 0);
  for (std::size_t i = 0; i < pool.size(); ++i) {
    CHECK(pool.link(i).generation() == 1);  // each link needed exactly one handshake
    CHECK(pool.statuses()[i].state == "up");
  }
  CHECK(pool.status().state == "up");
  CHECK(bench.finish() == 0);
}

TEST_CASE("pool: a new stream goes to the link with fewer streams, unless that link moved MiBs lately",
          "[pool]") {
  PoolBench bench(2);
  bring_up(bench, 2);
  agent::LinkPool& pool = bench.pool();
  PoolRelay& relay = bench.relay();

  // Idle links: the first stream to the primary, the second to the link with fewer streams, the
  // third to the lower index among equals.
  TestOwner& a = bench.open_answered("a.example");
  TestOwner& b = bench.open_answered("b.example");
  TestOwner& c = bench.open_answered("c.example");
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  REQUIRE(c.ok());
  CHECK(bench.link_index(a) == 0);
  CHECK(bench.link_index(b) == 1);
  CHECK(bench.link_index(c) == 0);

  // A bulk transfer on the link with fewer streams, echoed back: 8 MiB moved on it.
  constexpr std::uint64_t kBulk = 4 << 20;
  b.send_bulk(kBulk);
  REQUIRE(bench.run_until([&] { return b.received.size() == kBulk; }));
  CHECK(b.bulk_queued());
  REQUIRE(pool.link(1).stream_count() < pool.link(0).stream_count());  // by count, link 1 would win

  TestOwner& d = bench.open_answered("d.example");
  CHECK(d.ok());
  CHECK(bench.link_index(d) == 0);  // the busy link is avoided despite its fewer streams

  // The relay saw each link's streams as the agent placed them (ids restart at 1 on every link).
  CHECK(relay.link(0).streams_seen == std::vector<link::StreamId>{1, 3, 5});
  CHECK(relay.link(1).streams_seen == std::vector<link::StreamId>{1});
  CHECK(relay.replays_refused() == 0);
  CHECK(bench.finish() == 0);
}

TEST_CASE("pool: a secondary closed by the relay comes back; the primary's streams go on", "[pool]") {
  PoolBench bench(2);
  bring_up(bench, 2);
  agent::LinkPool& pool = bench.pool();
  PoolRelay& relay = bench.relay();

  TestOwner& s = bench.open_answered("primary.example");
  REQUIRE(s.ok());
  REQUIRE(bench.link_index(s) == 0);
  REQUIRE(echoes(bench, s, "before"));
  const auto primary_generation = pool.link(0).generation();
  const auto secondary_generation = pool.link(1).generation();

  relay.close_link(1);  // links are accepted in the pool's order (first case): this is the secondary
  REQUIRE(bench.run_until([&] { return !pool.link(1).up(); }, 10s));
  const auto down_at = Clock::now();
  // The first backoff is 250 ms x (0.5 .. 1.5); a few seconds leave room for a slow (ASan) build.
  REQUIRE(bench.run_until([&] { return bench.all_up(); }, 10s));
  INFO("the secondary was back after "
       << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - down_at).count() << " ms");
  CHECK(relay.link(1).closed);
  CHECK(relay.accepted() == 3);
  CHECK(relay.link(2).established);
  CHECK(relay.replays_refused() == 0);
  CHECK(pool.link(1).generation() == secondary_generation + 1);

  // The primary's link and stream were not touched.
  CHECK(pool.link(0).generation() == primary_generation);
  CHECK_FALSE(relay.link(0).closed);
  CHECK_FALSE(s.reset);
  CHECK(echoes(bench, s, " and after"));
  CHECK(s.text() == "before and after");
  CHECK(bench.finish() == 0);
}

TEST_CASE("pool: while the primary is down, opens go to the secondary at once; the primary comes back",
          "[pool]") {
  PoolBench bench(2);
  bring_up(bench, 2);
  agent::LinkPool& pool = bench.pool();
  PoolRelay& relay = bench.relay();

  TestOwner& on_primary = bench.open_answered("one.example");
  TestOwner& on_secondary = bench.open_answered("two.example");
  REQUIRE(bench.link_index(on_primary) == 0);
  REQUIRE(bench.link_index(on_secondary) == 1);

  relay.abort_link(0);  // the primary's socket drops, no CLOSE
  REQUIRE(bench.run_until([&] { return !pool.link(0).up(); }, 10s));
  REQUIRE(pool.link(1).up());

  TestOwner& first = bench.open("first.example");
  TestOwner& second = bench.open("second.example");
  // Answered over loopback in milliseconds; a wait for the primary would take its backoff at least,
  // and a wait that timed out LinkClient::kOpenWaitMs.
  REQUIRE(bench.run_until([&] { return first.answered() && second.answered(); }, 10s));
  CHECK(first.ok());
  CHECK(second.ok());
  CHECK(bench.link_index(first) == 1);
  CHECK(bench.link_index(second) == 1);
  CHECK(first.answers[0].at - first.opened_at < 1s);
  CHECK(relay.link(1).streams_seen == std::vector<link::StreamId>{1, 3, 5});

  CHECK(on_primary.reset == frame::ResetCode::Shutdown);  // it rode the link that went down
  CHECK_FALSE(on_secondary.reset);
  CHECK(echoes(bench, on_secondary, "still here"));

  REQUIRE(bench.run_until([&] { return pool.link(0).up(); }, 10s));
  CHECK(relay.accepted() == 3);
  CHECK(relay.link(2).established);
  CHECK(relay.replays_refused() == 0);
  // Back, it takes new streams again (it has none, the secondary three).
  TestOwner& after = bench.open_answered("after.example");
  CHECK(after.ok());
  CHECK(bench.link_index(after) == 0);
  CHECK(bench.finish() == 0);
}

TEST_CASE("pool: opens waiting on the primary go to a secondary that comes up first", "[pool]") {
  PoolBench bench(2);
  PoolRelay& relay = bench.start_relay();
  agent::LinkPool& pool = bench.start_pool(relay.port());
  // The secondary connects only while the primary is up: hold its handshake at the relay, then drop
  // the primary, so that the secondary comes up while the primary is down.
  relay.hold_from = 1;
  REQUIRE(bench.run_until([&] { return pool.link(0).up() && relay.holding(); }));
  REQUIRE(pool.link(1).connecting());
  relay.abort_link(0);
  REQUIRE(bench.run_until([&] { return !pool.link(0).up(); }, 10s));

  TestOwner& first = bench.open("first.example");
  TestOwner& second = bench.open("second.example");
  // No link is up: they wait on the primary. Past its first backoff (at most 375 ms) the primary's
  // reconnect waits, parked, for the secondary's handshake to end: one link connects at a time.
  bench.run_for(400ms);
  CHECK_FALSE(first.answered());
  CHECK_FALSE(second.answered());
  CHECK_FALSE(pool.link(0).connecting());

  relay.release_held();
  REQUIRE(bench.run_until([&] { return first.answered() && second.answered(); }, 10s));
  CHECK(first.ok());
  CHECK(second.ok());
  CHECK(bench.link_index(first) == 1);
  CHECK(bench.link_index(second) == 1);
  REQUIRE(relay.accepted() >= 2);
  CHECK(relay.link(1).streams_seen == std::vector<link::StreamId>{1, 3});
  // The primary takes its turn once the secondary is up.
  REQUIRE(bench.run_until([&] { return bench.all_up(); }, 10s));
  CHECK(relay.accepted() == 3);
  CHECK(relay.replays_refused() == 0);
  CHECK(bench.finish() == 0);
}

TEST_CASE(
    "pool: a link the relay drains (GOAWAY) is set aside to finish its streams; a new one comes at once",
    "[pool]") {
  PoolBench bench(2);
  bring_up(bench, 2);
  agent::LinkPool& pool = bench.pool();
  PoolRelay& relay = bench.relay();

  bench.open_answered("a.example");
  TestOwner& b = bench.open_answered("b.example");
  bench.open_answered("c.example");
  REQUIRE(bench.link_index(b) == 1);  // link 1 has one stream, link 0 two

  relay.goaway(1);
  // Behind a load balancer the new link reaches another relay: it does not wait for the old one.
  REQUIRE(bench.run_until([&] { return relay.accepted() == 3 && bench.all_up(); }, 10s));
  CHECK(pool.statuses()[1].streams == 1);  // b, still on the link set aside
  CHECK(echoes(bench, b, "the drained link still carries its stream"));
  for (const char* name : {"d.example", "e.example", "f.example"}) {
    TestOwner& d = bench.open(name);
    REQUIRE(bench.run_until([&] { return d.answered(); }));
    CHECK(d.ok());
  }
  CHECK(relay.link(1).streams_seen == std::vector<link::StreamId>{1});  // nothing new on the drained link

  relay.close_link(1);  // the drain ends with b still open: it is reset, nothing else moves
  REQUIRE(bench.run_until([&] { return b.reset.has_value(); }, 10s));
  CHECK(bench.all_up());
  CHECK(relay.accepted() == 3);
  CHECK(relay.replays_refused() == 0);
  CHECK(bench.finish() == 0);
}

TEST_CASE("pool: stop() with the primary refused and the secondaries parked ends once, leaving no handle",
          "[pool]") {
  RefusingPort refusing;
  PoolBench bench(3);
  agent::LinkPool& pool = bench.start_pool(refusing.port);
  // At least one refused attempt: the primary is down (or already retrying), the others parked.
  REQUIRE(bench.run_until([&] { return pool.link(0).status().state == "down"; }, 10s));
  for (std::size_t i = 1; i < pool.size(); ++i) {
    CHECK(pool.link(i).status().state == "connecting");
    CHECK_FALSE(pool.link(i).connecting());  // parked: neither resolving nor connecting
  }
  TestOwner& waiting = bench.open("waiting.example");  // waits for a link that never comes

  bench.stop_pool();
  REQUIRE(bench.run_until([&] { return bench.stop_done_calls > 0; }, 10s));
  // The waiting open got its answer, a failure, and only one.
  REQUIRE(waiting.answers.size() == 1);
  CHECK(waiting.answers[0].code == frame::OpenCode::Failure);
  CHECK(bench.finish() == 0);  // no handle left
  CHECK(bench.stop_done_calls == 1);
  CHECK(waiting.answers.size() == 1);
}

TEST_CASE("pool: stop() right after start() ends once, connects nothing, leaves no handle", "[pool]") {
  PoolBench bench(2);
  PoolRelay& relay = bench.start_relay();
  agent::LinkPool& pool = bench.start_pool(relay.port());
  REQUIRE(pool.link(0).connecting());  // the primary is resolving the relay's name
  bench.stop_pool();
  REQUIRE(bench.run_until([&] { return bench.stop_done_calls > 0; }, 10s));
  bench.run_for(100ms);  // a link that connected after stop() would reach the relay by now
  CHECK(relay.accepted() == 0);
  CHECK(bench.finish() == 0);
  CHECK(bench.stop_done_calls == 1);
}

TEST_CASE("pool: opens made before any link is up wait, then are answered by the first link up", "[pool]") {
  RefusingPort refusing;  // the relay's port, refusing until the relay listens on it
  PoolBench bench(2);
  agent::LinkPool& pool = bench.start_pool(refusing.port);
  std::vector<TestOwner*> early;
  for (const char* host : {"one.example", "two.example", "three.example"}) early.push_back(&bench.open(host));

  // The first attempt is refused; the opens keep waiting through it.
  REQUIRE(bench.run_until([&] { return pool.link(0).status().state == "down"; }, 10s));
  for (TestOwner* o : early) CHECK_FALSE(o->answered());

  PoolRelay& relay = bench.start_relay(refusing.port);
  // The next attempt comes after the first backoff (250 ms x 0.5 .. 1.5), well inside kOpenWaitMs.
  REQUIRE(bench.run_until([&] {
    for (TestOwner* o : early)
      if (!o->answered()) return false;
    return true;
  }));
  for (TestOwner* o : early) {
    CHECK(o->ok());
    CHECK(bench.link_index(*o) == 0);
    CHECK(o->answers[0].at - o->opened_at < std::chrono::milliseconds(agent::LinkClient::kOpenWaitMs));
  }
  REQUIRE(relay.accepted() >= 1);
  CHECK(relay.link(0).streams_seen == std::vector<link::StreamId>{1, 3, 5});
  REQUIRE(bench.run_until([&] { return bench.all_up(); }, 10s));  // and the secondary follows
  CHECK(relay.replays_refused() == 0);
  CHECK(bench.finish() == 0);
}

// A relay that shuts down while a stream is open sends GOAWAY, then CLOSE once its streams ended. The
// link was established: its end is no sign of a relay that does not take AES-256-GCM, so the primary
// reconnects with the cipher it had (it used to read GOAWAY's "not taking new streams" as "handshake
// never completed" and fall back to ChaCha20-Poly1305 until its hourly in-link handshake).
TEST_CASE("pool: a primary the relay drained reconnects with the cipher it had", "[pool]") {
  PoolBench bench(2);
  bring_up(bench, 2);
  agent::LinkPool& pool = bench.pool();
  PoolRelay& relay = bench.relay();
  const std::string cipher_before = pool.link(0).status().cipher;  // aes-256-gcm where the CPU has AES

  TestOwner& s = bench.open_answered("busy.example");
  REQUIRE(bench.link_index(s) == 0);
  relay.goaway(0);  // a relay shutting down with a stream open on the primary
  REQUIRE(bench.run_until([&] { return !pool.link(0).up(); }, 10s));
  relay.close_link(0);  // its stream ended: the relay closes the link
  REQUIRE(bench.run_until([&] { return relay.accepted() == 3 && pool.link(0).up(); }, 10s));
  CHECK(pool.link(0).status().cipher == cipher_before);
  CHECK(bench.finish() == 0);
}

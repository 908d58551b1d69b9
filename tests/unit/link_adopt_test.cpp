// A link socket accepted on one loop (uv::accept_socket) and adopted by a LinkConnection on another
// loop, on another thread (LinkConnection::adopt): the handshake and a stream over it, adopt() of a
// bad or busy descriptor, and, with the links of one thread over real sockets, the read size that
// link_activity chooses: a heavy link (one stream that moved 1 MiB) makes no one take short turns, a
// light one does, and a link with more streams stays light. The relay side runs on its own thread,
// so only the agent links share the test thread's link_activity table.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/uv/link_activity.hpp"
#include "common/uv/link_connection.hpp"
#include "common/uv/loop.hpp"
#include "common/uv/tcp_listener.hpp"
#include "tests/unit/test_util.hpp"

using namespace ferry;
using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::uint64_t kBulkBytes = 4ull << 20;  // per request byte on a "bulk" stream: heavy
constexpr auto kWait = 5s;                        // every wait of the test thread
constexpr auto kRelayWatchdog = 30s;              // the relay thread gives up after this

link::Instant loop_now(uv_loop_t* loop) { return link::Instant(static_cast<std::int64_t>(uv_now(loop))); }

ByteSpan as_bytes(std::string_view text) {
  return ByteSpan(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
}

struct AnyTime final : link::Admission {
  explicit AnyTime(const crypto::PublicKey& agent) : allowed(agent) {}
  crypto::PublicKey allowed;
  bool admit(const crypto::PublicKey& k) override { return k == allowed; }
  bool fresh(const crypto::PublicKey&, const crypto::Tai64n&) override { return true; }
};

// The relay: its own loop on its own thread, adopting descriptors handed over by the test thread.
// A stream to host "bulk" answers each byte it receives with kBulkBytes; any other stream echoes.
// No Catch assertions here (not thread-safe): results are read after stop() joined the thread.
class RelayThread {
 public:
  struct Link final : link::LinkEvents {
    struct Stream {
      bool bulk = false;
      std::uint64_t owed = 0;
    };
    explicit Link(RelayThread& r) : relay(r) {}
    RelayThread& relay;
    std::unique_ptr<uv::LinkConnection> conn;
    std::map<link::StreamId, Stream> streams;
    Bytes echoed;  // what echo streams received
    bool gone = false;
    bool established = false;
    std::thread::id established_on;
    std::optional<Error> closed;

    void on_established(const crypto::PublicKey&) override {
      established = true;
      established_on = std::this_thread::get_id();
    }
    void on_open(link::StreamId id, const Target& t) override {
      streams[id].bulk = t.name == "bulk";
      conn->mux().accept(id, frame::OpenCode::Ok);
    }
    void on_data(link::StreamId id, ByteSpan b) override {
      conn->mux().consumed(id, b.size(), loop_now(&relay.loop_));
      auto& s = streams[id];
      if (!s.bulk) {
        echoed.insert(echoed.end(), b.begin(), b.end());
        conn->mux().send(id, b);  // queued (copied) whatever the window
        return;
      }
      s.owed += b.size() * kBulkBytes;
      pump(id);
    }
    void on_writable(link::StreamId id) override { pump(id); }
    void pump(link::StreamId id) {
      auto& s = streams[id];
      while (s.owed > 0) {
        const std::size_t n = std::min<std::uint64_t>(relay.chunk_.size(), s.owed);
        s.owed -= n;
        if (!conn->mux().send(id, ByteSpan(relay.chunk_).first(n))) break;
      }
    }
    void on_fin(link::StreamId id) override { conn->mux().finish(id); }
    void on_reset(link::StreamId, frame::ResetCode) override {}
    void on_closed(const Error& why) override { closed = why; }
  };

  RelayThread(const crypto::SecretKey& key, const crypto::PublicKey& agent)
      : key_(key), admission_(agent), chunk_(64 * 1024, 0x5a) {
    auto started = ready_.get_future();
    thread_ = std::thread([this] { run(); });
    started.wait();
  }
  ~RelayThread() { stop(); }

  // Any thread: the relay adopts `fd` (and owns it from then on).
  void hand_over(int fd) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      pending_.push_back(fd);
    }
    uv_async_send(&async_);
  }
  // Aborts whatever link is still up, closes the loop, joins.
  void stop() {
    if (!thread_.joinable()) return;
    stop_ = true;
    uv_async_send(&async_);
    thread_.join();
  }

  // After stop():
  std::vector<std::unique_ptr<Link>> links;
  std::vector<Error> adopt_errors;
  std::thread::id thread_id;
  bool timed_out = false;
  int loop_close = -1;

 private:
  void run() {
    thread_id = std::this_thread::get_id();
    uv_loop_init(&loop_);
    uv::LoopContext::attach(&loop_, context_);
    uv_async_init(&loop_, &async_,
                  [](uv_async_t* a) { static_cast<RelayThread*>(a->data)->adopt_pending(); });
    async_.data = this;
    uv_timer_init(&loop_, &beat_);  // bounds every UV_RUN_ONCE, so that stop_ and the watchdog are seen
    uv_timer_start(
        &beat_, [](uv_timer_t*) {}, 20, 20);
    ready_.set_value();
    const auto deadline = Clock::now() + kRelayWatchdog;
    while (!stop_) {
      uv_run(&loop_, UV_RUN_ONCE);
      if (Clock::now() > deadline) {
        timed_out = true;
        break;
      }
    }
    adopt_pending();  // a descriptor handed over at the last moment is owned here too
    for (auto& l : links)
      if (!l->gone) l->conn->abort();
    uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&beat_), nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);  // only close callbacks are left
    for (auto& l : links) l->conn.reset();
    loop_close = uv_loop_close(&loop_);
  }

  void adopt_pending() {
    std::vector<int> fds;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      fds.swap(pending_);
    }
    for (int fd : fds) {
      auto l = std::make_unique<Link>(*this);
      link::LinkConfig c;
      c.role = link::LinkConfig::Role::Responder;
      c.static_key = &key_;
      c.admission = &admission_;
      Link* raw = l.get();
      l->conn = std::make_unique<uv::LinkConnection>(&loop_, c, *l,
                                                     [raw](uv::LinkConnection&) { raw->gone = true; });
      if (auto r = l->conn->adopt(fd); !r) {
        adopt_errors.push_back(r.error());
        ::close(fd);
        l->conn->abort();
      }
      links.push_back(std::move(l));
    }
  }

  const crypto::SecretKey& key_;
  AnyTime admission_;
  Bytes chunk_;
  uv_loop_t loop_{};
  uv::LoopContext context_;
  uv_async_t async_{};
  uv_timer_t beat_{};
  std::mutex mutex_;
  std::vector<int> pending_;
  std::atomic<bool> stop_{false};
  std::promise<void> ready_;
  std::thread thread_;
};

// What the link's own read buffers were: libuv asks the stream's alloc_cb for each read, so the spy
// wraps LinkConnection::on_alloc_cb on the link's uv_tcp_t and counts the sizes it chose.
struct AllocSpy {
  uv_alloc_cb original = nullptr;
  bool recording = false;
  int full = 0;   // LinkConnection::kReadBytes: a link alone
  int turns = 0;  // link_activity::kTurnBytes: a short turn while another link is active
  int other = 0;  // neither (the empty buffer that ends a turn is not counted)
  void reset() { full = turns = other = 0; }
};
std::map<const uv_handle_t*, AllocSpy*> spies;  // test thread only

void spy_alloc(uv_handle_t* h, std::size_t suggested, uv_buf_t* buf) {
  AllocSpy* spy = spies.at(h);
  spy->original(h, suggested, buf);
  if (!spy->recording || buf->len == 0) return;
  if (buf->len == uv::LinkConnection::kReadBytes)
    ++spy->full;
  else if (buf->len == uv::link_activity::kTurnBytes)
    ++spy->turns;
  else
    ++spy->other;
}

// An agent link on the test thread's loop.
struct AgentLink final : link::LinkEvents {
  explicit AgentLink(uv_loop_t* l) : loop(l) {}
  ~AgentLink() {
    if (tcp != nullptr) spies.erase(tcp);
  }
  uv_loop_t* loop;
  std::unique_ptr<uv::LinkConnection> conn;
  bool established = false;
  bool gone = false;
  std::optional<Error> closed;
  std::map<link::StreamId, std::optional<frame::OpenCode>> results;
  std::map<link::StreamId, std::uint64_t> received;
  std::map<link::StreamId, Bytes> kept;  // the bytes of echo streams
  std::function<void(link::StreamId)> on_bytes;
  AllocSpy spy;
  const uv_handle_t* tcp = nullptr;

  link::Mux& mux() { return conn->mux(); }
  bool crowded() { return uv::link_activity::crowded(loop, &conn->mux(), uv_now(loop)); }

  // Wraps the alloc_cb of the link's socket (reading since the handshake began).
  void install_spy() {
    struct Find {
      const void* owner;
      uv_handle_t* found = nullptr;
    } find{conn.get()};
    uv_walk(
        loop,
        [](uv_handle_t* h, void* arg) {
          auto* f = static_cast<Find*>(arg);
          if (h->type == UV_TCP && h->data == f->owner) f->found = h;
        },
        &find);
    REQUIRE(find.found != nullptr);
    auto* s = reinterpret_cast<uv_stream_t*>(find.found);
    REQUIRE(s->alloc_cb != nullptr);
    spy.original = s->alloc_cb;
    s->alloc_cb = spy_alloc;
    tcp = find.found;
    spies[tcp] = &spy;
  }

  void on_established(const crypto::PublicKey&) override { established = true; }
  void on_open_result(link::StreamId id, const frame::OpenResult& r) override { results[id] = r.code; }
  void on_data(link::StreamId id, ByteSpan b) override {
    received[id] += b.size();
    if (auto it = kept.find(id); it != kept.end()) it->second.insert(it->second.end(), b.begin(), b.end());
    conn->mux().consumed(id, b.size(), loop_now(loop));
    if (on_bytes) on_bytes(id);
  }
  void on_fin(link::StreamId) override {}
  void on_reset(link::StreamId, frame::ResetCode) override {}
  void on_closed(const Error& why) override { closed = why; }
};

// The test thread's side: a loop with the listener (accept_socket, then the relay thread adopts),
// and the agent links. Tears everything down even when an assertion threw.
class Harness {
 public:
  Harness()
      : relay(relay_key, agent_key.public_key()),
        listener(loop.get(), [this](uv_stream_t* server) { on_connection(server); }) {
    auto addr = uv::parse_socket_address("127.0.0.1:0");
    REQUIRE(addr);
    REQUIRE(listener.listen(reinterpret_cast<const sockaddr*>(&*addr)));
    uv_timer_init(loop.get(), &beat_);  // bounds every UV_RUN_ONCE, so deadlines are checked
    uv_timer_start(
        &beat_, [](uv_timer_t*) {}, 5, 5);
  }
  ~Harness() { shutdown(); }

  // Runs the loop until `done` or kWait has passed.
  bool run_until(const std::function<bool()>& done) {
    const auto deadline = Clock::now() + kWait;
    while (!done()) {
      if (Clock::now() > deadline) return false;
      uv_run(loop.get(), UV_RUN_ONCE);
    }
    return true;
  }

  // A new agent link, established.
  AgentLink& connect() {
    auto l = std::make_unique<AgentLink>(loop.get());
    AgentLink& a = *l;
    links.push_back(std::move(l));
    link::LinkConfig c;
    c.role = link::LinkConfig::Role::Initiator;
    c.static_key = &agent_key;
    c.peer_key = relay_key.public_key();
    a.conn =
        std::make_unique<uv::LinkConnection>(loop.get(), c, a, [&a](uv::LinkConnection&) { a.gone = true; });
    auto addr = uv::parse_socket_address("127.0.0.1:" + std::to_string(listener.local_port()));
    REQUIRE(addr);
    REQUIRE(a.conn->connect(reinterpret_cast<const sockaddr*>(&*addr)));
    REQUIRE(run_until([&] { return a.established || a.closed; }));
    REQUIRE(a.established);
    return a;
  }

  // Two new agent links on this thread, each with its read sizes watched (install_spy).
  std::pair<AgentLink&, AgentLink&> connect_spied_pair() {
    AgentLink& x = connect();
    AgentLink& y = connect();
    x.install_spy();
    y.install_spy();
    return {x, y};
  }

  // Opens a stream to `host` and waits for its OPEN_RESULT.
  link::StreamId open(AgentLink& a, const std::string& host) {
    auto id = a.mux().open(Target::host(host, 9));
    REQUIRE(id);
    if (host != "bulk") a.kept[*id];
    REQUIRE(run_until([&] { return a.results[*id].has_value(); }));
    REQUIRE(a.results[*id] == frame::OpenCode::Ok);
    return *id;
  }

  // Asks a bulk stream for kBulkBytes more; returns the count to wait for.
  std::uint64_t request(AgentLink& a, link::StreamId id) {
    REQUIRE(a.mux().send(id, as_bytes("g")));
    return a.received[id] + kBulkBytes;
  }

  // Authenticated close of every agent link, then the relay thread stops; a second call does nothing.
  void finish() {
    if (finished_) return;
    for (auto& l : links)
      if (!l->gone && !l->conn->closing()) l->conn->close(frame::CloseCode::Normal, "test done");
    closed_all = run_until([&] {
      for (auto& l : links)
        if (!l->gone) return false;
      return true;
    });
    shutdown();
  }

  uv::Loop loop;
  const crypto::SecretKey agent_key = crypto::SecretKey::generate();
  const crypto::SecretKey relay_key = crypto::SecretKey::generate();
  RelayThread relay;
  uv::TcpListener listener;
  std::vector<std::unique_ptr<AgentLink>> links;
  std::vector<Error> accept_errors;
  bool closed_all = false;
  int loop_close = -1;

 private:
  void on_connection(uv_stream_t* server) {
    auto fd = uv::accept_socket(server);
    if (!fd) {
      accept_errors.push_back(fd.error());
      return;
    }
    relay.hand_over(*fd);
  }

  void shutdown() {
    if (std::exchange(finished_, true)) return;
    for (auto& l : links)
      if (!l->gone) l->conn->abort();
    relay.stop();
    listener.close();
    uv_close(reinterpret_cast<uv_handle_t*>(&beat_), nullptr);
    const auto deadline = Clock::now() + kWait;
    while (uv_run(loop.get(), UV_RUN_NOWAIT) != 0 && Clock::now() < deadline) {
    }
    for (auto& l : links) l->conn.reset();
    loop_close = loop.close();
  }

  uv_timer_t beat_{};
  bool finished_ = false;
};

// Closes every link and both loops, and checks that nothing was left open.
void finish_cleanly(Harness& h) {
  h.finish();
  CHECK(h.closed_all);
  CHECK(h.relay.adopt_errors.empty());
  CHECK(h.loop_close == 0);
  CHECK(h.relay.loop_close == 0);
}

// Makes X and Y heavy (each one's first megabyte counts as light), then downloads on both at once
// with their read sizes recorded.
void download_both(Harness& h, AgentLink& x, link::StreamId xs, AgentLink& y, link::StreamId ys) {
  auto want_x = h.request(x, xs);
  REQUIRE(h.run_until([&] { return x.received[xs] >= want_x; }));
  auto want_y = h.request(y, ys);
  REQUIRE(h.run_until([&] { return y.received[ys] >= want_y; }));
  x.spy.recording = y.spy.recording = true;
  want_x = h.request(x, xs);
  want_y = h.request(y, ys);
  REQUIRE(h.run_until([&] { return x.received[xs] >= want_x && y.received[ys] >= want_y; }));
  x.spy.recording = y.spy.recording = false;
}

}  // namespace

TEST_CASE("a socket accepted on one loop and adopted on another thread's loop carries a link", "[adopt]") {
  Harness h;
  AgentLink& agent = h.connect();
  const link::StreamId id = h.open(agent, "echo");
  Bytes message(100'000);
  test::pattern(7, 0, message);
  agent.mux().send(id, message);
  REQUIRE(h.run_until([&] { return agent.kept[id].size() >= message.size(); }));
  CHECK(agent.kept[id] == message);  // relay to agent: the echo, byte for byte
  h.finish();
  CHECK(h.closed_all);

  CHECK(h.accept_errors.empty());
  CHECK(h.relay.adopt_errors.empty());
  CHECK_FALSE(h.relay.timed_out);
  REQUIRE(h.relay.links.size() == 1);
  const auto& relay_link = *h.relay.links[0];
  CHECK(relay_link.established);
  // The handshake and the stream ran on the relay's thread, not the thread that accepted.
  CHECK(relay_link.established_on == h.relay.thread_id);
  CHECK(relay_link.established_on != std::this_thread::get_id());
  CHECK(relay_link.echoed == message);  // agent to relay, byte for byte
  REQUIRE(relay_link.closed);
  CHECK(relay_link.closed->code == Errc::Closed);  // the agent's authenticated CLOSE arrived
  CHECK(relay_link.gone);
  CHECK(h.relay.loop_close == 0);  // no handle leaked on either loop
  CHECK(h.loop_close == 0);
}

TEST_CASE("adopt() of a bad or busy descriptor fails; the link still closes and the caller keeps the socket",
          "[adopt]") {
  uv::Loop loop;
  const auto key = crypto::SecretKey::generate();
  AnyTime admission(key.public_key());
  link::LinkConfig c;
  c.role = link::LinkConfig::Role::Responder;
  c.static_key = &key;
  c.admission = &admission;
  AgentLink events(loop.get());  // only records on_closed

  // adopt(make_fd()) on a fresh link, then abort() and wait for on_gone; the result of adopt(). The
  // descriptor is made after the link: a loop's first stream opens a reserve descriptor (libuv's
  // emfile_fd), which would take the number of a descriptor closed just before.
  const auto adopt_and_abort = [&](const std::function<int()>& make_fd) {
    bool gone = false;
    auto conn = std::make_unique<uv::LinkConnection>(loop.get(), c, events,
                                                     [&](uv::LinkConnection&) { gone = true; });
    auto r = conn->adopt(make_fd());
    conn->abort();
    const auto deadline = Clock::now() + kWait;
    while (!gone && Clock::now() < deadline) uv_run(loop.get(), UV_RUN_NOWAIT);
    CHECK(gone);
    conn.reset();
    return r;
  };

  SECTION("-1") {
    auto r = adopt_and_abort([] { return -1; });
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::Io);
    CHECK(r.error().sys == UV_EBADF);
  }
  SECTION("a closed descriptor") {
    int fd = -1;
    auto r = adopt_and_abort([&] {
      fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      ::close(fd);
      return fd;
    });
    CHECK(fd >= 0);
    REQUIRE_FALSE(r);
    CHECK(r.error().sys == UV_EBADF);
  }
  SECTION("a socket this loop already watches: refused, and still open and working for the caller") {
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    uv_poll_t poll{};
    REQUIRE(uv_poll_init(loop.get(), &poll, sv[0]) == 0);
    REQUIRE(uv_poll_start(&poll, UV_READABLE, [](uv_poll_t*, int, int) {}) == 0);
    auto r = adopt_and_abort([&] { return sv[0]; });
    REQUIRE_FALSE(r);
    CHECK(r.error().sys == UV_EEXIST);
    uv_poll_stop(&poll);
    uv_close(reinterpret_cast<uv_handle_t*>(&poll), nullptr);
    uv_run(loop.get(), UV_RUN_NOWAIT);
    // The failed link closed its handle without closing the descriptor: it is the same socket.
    CHECK(::fcntl(sv[0], F_GETFD) != -1);
    CHECK(::write(sv[1], "x", 1) == 1);
    char got = 0;
    CHECK(::read(sv[0], &got, 1) == 1);
    CHECK(got == 'x');
    ::close(sv[0]);
    ::close(sv[1]);
  }
  REQUIRE(events.closed);  // abort() ended the unstarted session; the owner heard of it
  CHECK(loop.close() == 0);
}

// The agent's links X and Y share the test thread (and its link_activity table); the relay's ends are
// on another thread. Each phase records the read buffers LinkConnection chose for X and Y.
TEST_CASE("a heavy link (one bulk stream) crowds no one; a light one makes it take short turns",
          "[adopt][pool]") {
  Harness h;
  auto [x, y] = h.connect_spied_pair();
  const link::StreamId xs = h.open(x, "bulk");

  // X downloads alone (Y has no streams): large reads only, and X becomes heavy.
  x.spy.recording = true;
  auto want = h.request(x, xs);
  REQUIRE(h.run_until([&] { return x.received[xs] >= want; }));
  x.spy.recording = false;
  CHECK(x.spy.turns == 0);
  CHECK(x.spy.full > 0);

  // Y opens a stream and exchanges pings, light: a heavy X does not make Y take turns.
  y.spy.recording = true;
  const link::StreamId ys = h.open(y, "echo");
  REQUIRE(y.mux().send(ys, as_bytes("ping")));
  REQUIRE(h.run_until([&] { return y.received[ys] >= 4; }));
  CHECK(y.spy.turns == 0);
  CHECK(y.spy.full > 0);
  CHECK_FALSE(y.crowded());
  CHECK(x.crowded());

  // X downloads again while Y keeps pinging: X reads in short turns, Y still in large reads.
  y.on_bytes = [&](link::StreamId id) {
    if (id == ys) y.mux().send(ys, as_bytes("ping"));
  };
  x.spy.reset();
  y.spy.reset();
  x.spy.recording = true;
  const std::uint64_t pinged = y.received[ys];
  REQUIRE(y.mux().send(ys, as_bytes("ping")));
  want = h.request(x, xs);
  REQUIRE(h.run_until([&] { return x.received[xs] >= want && y.received[ys] >= pinged + 8; }));
  x.spy.recording = y.spy.recording = false;
  y.on_bytes = nullptr;
  CHECK(x.spy.turns > 0);
  CHECK(x.spy.full == 0);
  CHECK(y.spy.turns == 0);
  CHECK(y.spy.full > 0);
  CHECK(x.spy.other == 0);
  CHECK(y.spy.other == 0);

  finish_cleanly(h);
}

TEST_CASE("two heavy links, one bulk stream each, take no turns from each other", "[adopt][pool]") {
  Harness h;
  auto [x, y] = h.connect_spied_pair();
  const link::StreamId xs = h.open(x, "bulk");
  const link::StreamId ys = h.open(y, "bulk");

  // Both download at once: neither reads in short turns.
  download_both(h, x, xs, y, ys);
  CHECK(x.spy.turns == 0);
  CHECK(y.spy.turns == 0);
  CHECK(x.spy.full > 0);
  CHECK(y.spy.full > 0);
  CHECK_FALSE(x.crowded());
  CHECK_FALSE(y.crowded());

  finish_cleanly(h);
}

TEST_CASE("a link that moved megabytes with two streams stays light and crowds a heavy one",
          "[adopt][pool]") {
  Harness h;
  auto [x, y] = h.connect_spied_pair();
  const link::StreamId xs = h.open(x, "bulk");
  const link::StreamId xe = h.open(x, "echo");  // X's second stream: it may carry a keystroke
  const link::StreamId ys = h.open(y, "bulk");
  REQUIRE(x.mux().stream_count() == 2);
  REQUIRE(y.mux().stream_count() == 1);

  // Both download at once: Y (heavy, one stream) takes turns because of X; X none because of Y.
  download_both(h, x, xs, y, ys);
  CHECK(y.spy.turns > 0);
  CHECK(x.spy.turns == 0);
  CHECK(x.spy.full > 0);
  CHECK(y.crowded());
  CHECK_FALSE(x.crowded());
  CHECK(x.received[xe] == 0);

  finish_cleanly(h);
}

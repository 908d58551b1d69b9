// Which relay worker a new link joins (relay/link_placement.hpp): an agent's links spread over the
// workers, and a socket handed to another worker reaches it through its loop.
#include "relay/link_placement.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "common/uv/loop.hpp"

using ferry::relay::LinkPlacement;

namespace {

// A real descriptor to hand over (one end of a socket pair); the test closes what it gets back.
int socket_end(int& other) {
  int fds[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
  other = fds[1];
  return fds[0];
}

// A worker's side: an async handle on its own loop, counting wake-ups.
struct Worker {
  ferry::uv::Loop loop;
  uv_async_t wake{};
  int woken = 0;
  Worker() {
    uv_async_init(loop.get(), &wake, [](uv_async_t* a) { ++*static_cast<int*>(a->data); });
    wake.data = &woken;
  }
  ~Worker() {
    uv_close(reinterpret_cast<uv_handle_t*>(&wake), nullptr);
    uv_run(loop.get(), UV_RUN_DEFAULT);
  }
  void run_once() { uv_run(loop.get(), UV_RUN_NOWAIT); }
};

// A placement over two workers, both taking part.
struct TwoWorkers {
  Worker w0, w1;
  LinkPlacement p;
  explicit TwoWorkers(std::size_t max_handshakes = 256) : p(2, max_handshakes) {
    p.open(0, &w0.wake);
    p.open(1, &w1.wake);
  }
};

}  // namespace

namespace {

std::vector<LinkPlacement::Candidate> workers(std::vector<std::uint32_t> from_source,
                                              std::vector<std::size_t> links) {
  std::vector<LinkPlacement::Candidate> out;
  for (std::size_t w = 0; w < links.size(); ++w) out.push_back({true, false, from_source[w], links[w]});
  return out;
}

}  // namespace

TEST_CASE("placement rule: fewest links from the source first, then fewest links, then stay", "[placement]") {
  // The agent's first link is on worker 0: its second goes elsewhere, even to a busier worker.
  CHECK(LinkPlacement::choose(workers({1, 0, 0}, {1, 5, 3}), 0) == 2u);
  CHECK(LinkPlacement::choose(workers({1, 0, 0}, {1, 3, 3}), 0) == 1u);  // tie: the lowest index
  // A source with no links yet: the least loaded worker.
  CHECK(LinkPlacement::choose(workers({0, 0, 0}, {4, 2, 3}), 0) == 1u);
  // Ties stay with the worker that accepted: no hand-over for nothing.
  CHECK(LinkPlacement::choose(workers({0, 0, 0}, {2, 2, 2}), 2) == 2u);
  CHECK(LinkPlacement::choose(workers({1, 1, 0}, {3, 3, 3}), 2) == 2u);
  // A worker that is not open (drained, or not started) is never chosen; the accepting one may be.
  auto w = workers({1, 0, 0}, {1, 0, 0});
  w[1].open = w[2].open = false;
  CHECK(LinkPlacement::choose(w, 0) == 0u);
  w[0].open = false;
  w[1].open = true;
  CHECK(LinkPlacement::choose(w, 0) == 1u);
}

TEST_CASE("placement rule: a worker at its limit of handshakes takes none; all full is a refusal",
          "[placement]") {
  auto w = workers({0, 0}, {300, 2});
  w[1].full = true;  // a flood's handshakes fill worker 1, however few links it holds
  CHECK(LinkPlacement::choose(w, 0) == 0u);
  CHECK(LinkPlacement::choose(w, 1) == 0u);  // accepted by the full worker: handed to one with room
  w[0].full = true;
  CHECK_FALSE(LinkPlacement::choose(w, 0).has_value());
  CHECK_FALSE(LinkPlacement::choose(w, 1).has_value());
}

TEST_CASE("placement: an agent's two links land on different workers, and the socket arrives",
          "[placement]") {
  TwoWorkers t;
  LinkPlacement& p = t.p;

  int peer_a = -1, peer_b = -1;
  LinkPlacement::Arrival first{socket_end(peer_a), "agent"};
  const int first_fd = first.fd;
  REQUIRE(p.place(0, first) == LinkPlacement::Placed::Here);  // accepted by worker 0, kept there
  ::close(first_fd);

  // The second link from the same source, also hashed to worker 0 by the kernel: handed to worker 1.
  LinkPlacement::Arrival second{socket_end(peer_b), "agent"};
  const int second_fd = second.fd;
  CHECK(p.place(0, second) == LinkPlacement::Placed::Elsewhere);
  CHECK(p.links() == std::vector<std::size_t>{1, 1});
  CHECK(p.take(0).empty());
  t.w1.run_once();
  CHECK(t.w1.woken == 1);
  auto got = p.take(1);
  REQUIRE(got.size() == 1);
  CHECK(got[0].fd == second_fd);  // the very socket: bytes written at the far end can be read from it
  CHECK(got[0].source == "agent");
  REQUIRE(::write(peer_b, "hi", 2) == 2);
  char buf[2];
  CHECK(::read(got[0].fd, buf, 2) == 2);
  CHECK(std::string(buf, 2) == "hi");
  ::close(got[0].fd);
  ::close(peer_a);
  ::close(peer_b);

  // Another agent's link: the workers are level, so it stays where it was accepted.
  LinkPlacement::Arrival other{-1, "other agent"};
  CHECK(p.place(1, other) == LinkPlacement::Placed::Here);
  CHECK(p.links() == std::vector<std::size_t>{1, 2});
}

TEST_CASE("placement: links that go are no longer counted, and their source is forgotten", "[placement]") {
  TwoWorkers t;
  LinkPlacement& p = t.p;
  LinkPlacement::Arrival a{-1, "agent"}, b{-1, "agent"};
  REQUIRE(p.place(0, a) == LinkPlacement::Placed::Here);
  REQUIRE(p.place(0, b) == LinkPlacement::Placed::Elsewhere);
  p.take(1);
  p.release(0, "agent", true);
  CHECK(p.links() == std::vector<std::size_t>{0, 1});
  // With its first link gone, the agent's next link goes where it has none: back to worker 0.
  LinkPlacement::Arrival c{-1, "agent"};
  CHECK(p.place(0, c) == LinkPlacement::Placed::Here);
  p.release(0, "agent", true);
  p.release(1, "agent", true);
  CHECK(p.links() == std::vector<std::size_t>{0, 0});
  // Releasing what was never placed changes nothing (no underflow).
  p.release(1, "agent", true);
  p.release(0, "never seen", true);
  CHECK(p.links() == std::vector<std::size_t>{0, 0});
}

TEST_CASE("placement: a closed worker gets nothing more and gives back what it had not taken",
          "[placement]") {
  TwoWorkers t;
  LinkPlacement& p = t.p;
  int peer = -1;
  LinkPlacement::Arrival a{-1, "agent"}, b{socket_end(peer), "agent"};
  const int b_fd = b.fd;
  REQUIRE(p.place(0, a) == LinkPlacement::Placed::Here);
  REQUIRE(p.place(0, b) ==
          LinkPlacement::Placed::Elsewhere);  // queued for worker 1, which drains before taking it
  auto left = p.close(1);
  REQUIRE(left.size() == 1);
  CHECK(left[0].fd == b_fd);
  ::close(left[0].fd);
  ::close(peer);
  p.release(1, "agent", true);
  // Worker 1 is closed: the agent's next link stays on worker 0, however many it has there.
  LinkPlacement::Arrival c{-1, "agent"};
  CHECK(p.place(0, c) == LinkPlacement::Placed::Here);
  CHECK(p.links() == std::vector<std::size_t>{2, 0});
  CHECK(p.take(1).empty());
}

TEST_CASE("placement: handshakes count against a worker's limit until established or gone", "[placement]") {
  TwoWorkers t(2);  // two handshakes per worker
  LinkPlacement& p = t.p;
  std::vector<LinkPlacement::Arrival> a(5);
  for (std::size_t i = 0; i < a.size(); ++i) a[i].source = "scanner" + std::to_string(i);
  CHECK(p.place(0, a[0]) == LinkPlacement::Placed::Here);
  CHECK(p.place(0, a[1]) == LinkPlacement::Placed::Elsewhere);
  CHECK(p.place(0, a[2]) == LinkPlacement::Placed::Here);
  CHECK(p.place(0, a[3]) == LinkPlacement::Placed::Elsewhere);
  // Four handshakes: both workers full. The newcomer stays, and the accepting worker must evict.
  CHECK(p.place(0, a[4]) == LinkPlacement::Placed::Evict);
  CHECK(p.links() == std::vector<std::size_t>{3, 2});
  CHECK(p.handshakes(0) == 3);
  p.release(0, "scanner0", true);  // the eviction: worker 0 is back at its limit
  CHECK(p.handshakes(0) == 2);
  // One handshake on worker 0 completes: it is a link now, and worker 0 has room again.
  p.established(0, "scanner2");
  LinkPlacement::Arrival agent{-1, "agent"};
  CHECK(p.place(1, agent) == LinkPlacement::Placed::Elsewhere);
  CHECK(p.links() == std::vector<std::size_t>{3, 2});
  // A handshake that fails on worker 1 gives its place back.
  p.release(1, "scanner1", true);
  LinkPlacement::Arrival next{-1, "scanner5"};
  CHECK(p.place(0, next) == LinkPlacement::Placed::Elsewhere);
  // An established link that goes gives back a link, not a handshake: worker 0 stays full.
  p.release(0, "scanner2", false);
  LinkPlacement::Arrival last{-1, "other"};
  CHECK(p.place(0, last) == LinkPlacement::Placed::Evict);
}

TEST_CASE("placement: one source holds at most 16 handshakes at a time", "[placement]") {
  TwoWorkers t(256);
  LinkPlacement& p = t.p;
  std::vector<LinkPlacement::Arrival> a(LinkPlacement::kMaxHandshakesPerSource + 1);
  for (auto& x : a) x.source = "scanner";
  for (std::size_t i = 0; i < LinkPlacement::kMaxHandshakesPerSource; ++i)
    CHECK(p.place(0, a[i]) != LinkPlacement::Placed::SourceFull);
  CHECK(p.source_full("scanner"));
  CHECK_FALSE(p.source_full("agent"));
  CHECK(p.place(0, a.back()) == LinkPlacement::Placed::SourceFull);
  const auto before = p.links();
  CHECK(before[0] + before[1] == LinkPlacement::kMaxHandshakesPerSource);  // the refused one is not counted
  // A handshake that ends, either way, gives the source its place back; another source is not affected.
  p.established(0, "scanner");
  CHECK_FALSE(p.source_full("scanner"));
  LinkPlacement::Arrival again{-1, "scanner"}, other{-1, "agent"};
  CHECK(p.place(0, again) != LinkPlacement::Placed::SourceFull);
  CHECK(p.place(0, other) != LinkPlacement::Placed::SourceFull);
}

// The agent's network watch against the real kernel: in a network namespace of its own (root only;
// skipped otherwise), an address added to a veth interface is reported once, after its burst of
// routing messages settles, and its removal once more.
#include "agent/network_watch.hpp"

#include <sched.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "common/uv/loop.hpp"

using namespace ferry;
using namespace std::chrono_literals;

namespace {

// Runs `loop` until `done` or the timeout, whichever first.
bool run_until(uv::Loop& loop, const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  uv_timer_t beat;
  uv_timer_init(loop.get(), &beat);
  uv_timer_start(
      &beat, [](uv_timer_t*) {}, 10, 10);  // UV_RUN_ONCE returns at least this often
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done() && std::chrono::steady_clock::now() < deadline) uv_run(loop.get(), UV_RUN_ONCE);
  uv_close(reinterpret_cast<uv_handle_t*>(&beat), nullptr);
  uv_run(loop.get(), UV_RUN_NOWAIT);
  return done();
}

}  // namespace

TEST_CASE("an address added and removed in a fresh network namespace is reported once each",
          "[network_watch]") {
  // A network namespace belongs to the thread that unshares it (and what it starts): the test's own
  // network stays untouched.
  std::string skipped;
  std::vector<std::string> changes;
  bool deleted = false, loop_closed = false;  // Catch's assertions stay on this thread
  std::thread t([&] {
    if (geteuid() != 0 || unshare(CLONE_NEWNET) != 0)
      return void(skipped = "needs root (unshare CLONE_NEWNET)");
    uv::Loop loop;
    {
      agent::NetworkWatch watch(loop.get(), [&](const std::string& why) { changes.push_back(why); });
      if (auto r = watch.start(); !r) {
        skipped = std::string("no netlink here: ") + r.error().what;
      } else if (std::system(
                     "ip link add ferrytest0 type veth peer name ferrytest1 && ip link set ferrytest0 up && "
                     "ip addr add 192.0.2.77/24 dev ferrytest0") != 0) {
        skipped = "ip could not add a veth pair";
      } else {
        run_until(
            loop, [&] { return !changes.empty(); }, 3s);
        run_until(
            loop, [] { return false; }, 400ms);  // the rest of the burst stays quiet
        deleted = std::system("ip addr del 192.0.2.77/24 dev ferrytest0") == 0;
        run_until(
            loop, [&] { return changes.size() >= 2; }, 3s);
        run_until(
            loop, [] { return false; }, 400ms);
      }
      bool stopped = false;
      watch.stop([&] { stopped = true; });
      run_until(
          loop, [&] { return stopped; }, 2s);
    }
    loop_closed = loop.close() == 0;
  });
  t.join();
  if (!skipped.empty()) {
    WARN("skipped: " << skipped);
    CHECK(loop_closed);
    return;
  }
  CHECK(loop_closed);
  REQUIRE(deleted);
  REQUIRE(changes.size() == 2);
  CHECK(changes[0] == "address 192.0.2.77 added");
  CHECK(changes[1] == "address 192.0.2.77 removed");
}

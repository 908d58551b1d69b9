// The link's unsent-byte budget: a few milliseconds of the path's rate, within fixed bounds.
#include "common/uv/unsent_budget.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "common/uv/tcp_path.hpp"
#include "tests/unit/test_util.hpp"

using namespace ferry;

TEST_CASE("the unsent budget is 3 ms of the pacing rate, between 32 and 512 KiB", "[link][latency]") {
  // A 100 Mbit/s home line paced at 1.2x: 15 MB/s -> 45,000 bytes, about 3.6 ms at the line's rate.
  CHECK(uv::unsent_budget(15'000'000) == 45'000);
  // Slow paths keep a floor, so a link never writes in tiny pieces.
  CHECK(uv::unsent_budget(0) == uv::kMinUnsentBudget);
  CHECK(uv::unsent_budget(1'000'000) == uv::kMinUnsentBudget);
  // Loopback (GB/s) and absurd rates hit the ceiling without overflow.
  CHECK(uv::unsent_budget(2'000'000'000) == uv::kMaxUnsentBudget);
  CHECK(uv::unsent_budget(~std::uint64_t{0}) == uv::kMaxUnsentBudget);
}

#if defined(__linux__)
TEST_CASE("the pacing rate and minimum RTT are read from a real socket", "[link][latency]") {
  // Not connected: TCP_INFO still answers on Linux (rate 0 or the default, no RTT yet).
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  const auto fresh = uv::tcp_path(fd);
  REQUIRE(fresh.has_value());
  CHECK(fresh->min_rtt.count() == 0);
  ::close(fd);
  CHECK_FALSE(uv::tcp_path(-1).has_value());

  // Connected over loopback: the handshake alone gives an RTT sample, far below a millisecond.
  sockaddr_in addr{};
  const int server = test::listen_on_loopback(1, addr);
  const int client = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(::connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  const int accepted = ::accept(server, nullptr, nullptr);
  REQUIRE(accepted >= 0);
  REQUIRE(::write(client, "x", 1) == 1);
  char c = 0;
  REQUIRE(::read(accepted, &c, 1) == 1);
  const auto path = uv::tcp_path(client);
  REQUIRE(path.has_value());
  CHECK(path->min_rtt.count() > 0);
  CHECK(path->min_rtt < std::chrono::milliseconds(5));
  CHECK(path->pacing_rate > 0);
  ::close(accepted);
  ::close(client);
  ::close(server);
}
#endif

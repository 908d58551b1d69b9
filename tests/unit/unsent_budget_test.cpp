// The link's unsent-byte budget: a few milliseconds of the path's rate, within fixed bounds.
#include "common/uv/unsent_budget.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

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
TEST_CASE("the pacing rate is read from a real socket", "[link][latency]") {
  // Not connected: TCP_INFO still answers on Linux (rate 0 or the default), never fails on a TCP fd.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  CHECK(uv::pacing_rate(fd).has_value());
  ::close(fd);
  CHECK_FALSE(uv::pacing_rate(-1).has_value());
}
#endif

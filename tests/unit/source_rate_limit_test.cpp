// New connections per source address, for the whole relay (relay/source_rate_limit.hpp): the burst,
// the refill, one bucket for all workers, and a flood of sources that never locks a new one out.
#include "relay/source_rate_limit.hpp"

#include <atomic>
#include <catch2/catch.hpp>
#include <string>
#include <thread>
#include <vector>

using ferry::relay::SourceRateLimit;

TEST_CASE("source rate limit: a burst of 40, then 10 a second", "[relay]") {
  SourceRateLimit r;
  const std::uint64_t t = 100'000;
  for (int i = 0; i < 40; ++i) CHECK(r.take("a", t));
  CHECK_FALSE(r.take("a", t));
  CHECK(r.take("b", t));             // another source has its own bucket
  CHECK_FALSE(r.take("a", t + 99));  // under a tenth of a second: not one token yet
  CHECK(r.take("a", t + 100));
  CHECK_FALSE(r.take("a", t + 100));
  // Ten seconds of quiet refill the bucket, but never beyond the burst.
  int taken = 0;
  while (r.take("a", t + 10'100)) ++taken;
  CHECK(taken == 40);
}

TEST_CASE("source rate limit: a worker whose clock lags adds nothing and breaks nothing", "[relay]") {
  SourceRateLimit r;
  const std::uint64_t t = 100'000;
  for (int i = 0; i < 40; ++i) REQUIRE(r.take("a", t));
  CHECK_FALSE(r.take("a", t - 3));  // a loop iteration behind: no refill from a negative interval
  CHECK(r.take("a", t + 100));      // measured from the later time
  CHECK_FALSE(r.take("a", t + 100));
}

TEST_CASE("source rate limit: the workers share one bucket per source", "[relay]") {
  SourceRateLimit r;
  std::atomic<int> admitted{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w)
    workers.emplace_back([&] {
      for (int i = 0; i < 100; ++i)
        if (r.take("scanner", 100'000)) ++admitted;
    });
  for (auto& w : workers) w.join();
  CHECK(admitted == 40);  // not 40 per worker
}

TEST_CASE("source rate limit: a flood of sources never locks a new one out", "[relay]") {
  SourceRateLimit r;
  const std::uint64_t t = 100'000;
  for (std::size_t i = 0; i < SourceRateLimit::kMaxSources; ++i) REQUIRE(r.take(std::to_string(i), t));
  CHECK(r.sources() == SourceRateLimit::kMaxSources);
  CHECK(r.take("agent", t));  // takes another source's place
  CHECK(r.sources() == SourceRateLimit::kMaxSources);
  // After ten quiet seconds the stale buckets are swept, and the table shrinks.
  CHECK(r.take("agent", t + 11'000));
  CHECK(r.sources() < 10);
}

// Wake detection from two clocks: a suspended system (boot time runs on, monotonic stops) and a
// stopped process (its timer fires late).
#include "agent/wake_detector.hpp"

#include <catch2/catch.hpp>

using ferry::agent::WakeDetector;

TEST_CASE("ticks on time are no wake; a late tick or a jump of boot time against monotonic is", "[wake]") {
  WakeDetector w;
  CHECK_FALSE(w.observe(10'000, 50'000));  // the first tick only sets the clocks
  CHECK_FALSE(w.observe(12'000, 52'000));
  CHECK_FALSE(w.observe(14'500, 54'500));  // half a second late: a busy loop, not a wake
  SECTION("the system slept 75 s: monotonic stood still") {
    auto why = w.observe(16'500, 131'500);
    REQUIRE(why);
    CHECK(*why == "the system slept 75 s");
    CHECK_FALSE(w.observe(18'500, 133'500));  // and the next tick is ordinary again
  }
  SECTION("the process was stopped for 75 s: its timer fired late") {
    auto why = w.observe(89'500, 129'500);
    REQUIRE(why);
    CHECK(*why == "the agent was not running for 75 s");
    CHECK_FALSE(w.observe(91'500, 131'500));
  }
  SECTION("just under the threshold is no wake") {
    CHECK_FALSE(w.observe(14'500 + 2'000 + 2'999, 54'500 + 4'999));
  }
}

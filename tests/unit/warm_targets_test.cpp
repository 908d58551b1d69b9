// Which targets the agent answers early: reached through the relay within 10 minutes, under the
// same routes version; forgotten on a refusal; bounded.
#include "agent/warm_targets.hpp"

#include <catch2/catch.hpp>

using namespace ferry;
using agent::WarmTargets;

TEST_CASE("warm targets: reached within ten minutes under the same routes version", "[warm]") {
  WarmTargets w;
  const Target t = Target::host("git.office.example", 443);
  CHECK_FALSE(w.warm(t, 1000, 7));
  w.reached(t, 1000, 7);
  CHECK(w.warm(t, 1000, 7));
  CHECK(w.warm(Target::host("GIT.Office.Example", 443), 2000, 7));       // names ignore case
  CHECK_FALSE(w.warm(Target::host("git.office.example", 22), 2000, 7));  // another port
  CHECK(w.warm(t, 1000 + WarmTargets::kWarmMs - 1, 7));
  CHECK_FALSE(w.warm(t, 1000 + WarmTargets::kWarmMs, 7));  // ten minutes later: cold
  CHECK_FALSE(w.warm(t, 2000, 8));                         // the relay pushed other routes
  w.reached(t, 5000, 8);
  CHECK(w.warm(t, 6000, 8));
  w.forget(t);
  CHECK_FALSE(w.warm(t, 6000, 8));
  const Target ip = Target::ipv4({10, 1, 2, 3}, 8443);
  w.reached(ip, 1, 0);
  CHECK(w.warm(ip, 2, 0));
}

TEST_CASE("warm targets: never more than kMaxTargets, the oldest go first", "[warm]") {
  WarmTargets w;
  for (std::uint16_t i = 0; i < 3 * WarmTargets::kMaxTargets / 2; ++i)
    w.reached(Target::host("host" + std::to_string(i) + ".example", 443), 10'000 + i, 1);
  CHECK(w.size() <= WarmTargets::kMaxTargets);
  const auto last = static_cast<std::uint16_t>(3 * WarmTargets::kMaxTargets / 2 - 1);
  CHECK(w.warm(Target::host("host" + std::to_string(last) + ".example", 443), 20'000, 1));
  CHECK_FALSE(w.warm(Target::host("host0.example", 443), 20'000, 1));
  // Expired ones go before any recent one.
  WarmTargets x;
  for (std::size_t i = 0; i < WarmTargets::kMaxTargets; ++i)
    x.reached(Target::host("old" + std::to_string(i) + ".example", 80), 0, 1);
  x.reached(Target::host("new.example", 80), WarmTargets::kWarmMs + 1, 1);
  CHECK(x.size() == 1);
}

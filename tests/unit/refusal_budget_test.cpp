// The audit log's budget of refusals per agent (relay/refusal_budget.hpp): 50 a second in full, the
// rest counted into one summary per agent and second, and a minute over budget is abuse.
#include "relay/refusal_budget.hpp"

#include <catch2/catch.hpp>

using ferry::relay::RefusalBudget;

TEST_CASE("the first 50 refusals of a second are written, the rest summarised per agent", "[audit]") {
  RefusalBudget b;
  std::vector<RefusalBudget::Summary> due;
  int written = 0;
  for (int i = 0; i < 1000; ++i)
    written += b.note("mallory", i % 3 ? "a.test:80" : "b.test:" + std::to_string(i), 5'000 + i / 10, due);
  CHECK(written == 50);
  CHECK(due.empty());                                 // the second has not ended
  CHECK(b.note("alice", "ok.test:443", 5'500, due));  // another agent has its own budget
  b.collect(6'000, due);
  REQUIRE(due.size() == 1);
  CHECK(due[0].agent == "mallory");
  CHECK(due[0].suppressed == 950);
  REQUIRE_FALSE(due[0].top.empty());
  CHECK(due[0].top[0].first == "a.test:80");  // the most asked target leads
  CHECK(due[0].top.size() <= RefusalBudget::kTopTargets);
  due.clear();
  CHECK(b.note("mallory", "a.test:80", 6'001, due));  // a new second, a new budget
  b.collect(8'000, due);
  CHECK(due.empty());  // nothing was left out in that second
}

TEST_CASE("distinct targets are counted in bounded memory", "[audit]") {
  RefusalBudget b;
  std::vector<RefusalBudget::Summary> due;
  for (int i = 0; i < 100'000; ++i) b.note("mallory", "t" + std::to_string(i) + ".test:80", 0, due);
  b.collect(1'000, due);
  REQUIRE(due.size() == 1);
  CHECK(due[0].suppressed == 100'000 - 50);
  CHECK(due[0].top.size() == RefusalBudget::kTopTargets);
}

TEST_CASE("an agent over budget for a minute in a row is abusive; a pause resets it", "[audit]") {
  RefusalBudget b;
  std::vector<RefusalBudget::Summary> due;
  auto flood_second = [&](std::int64_t s) {
    for (int i = 0; i < 60; ++i) b.note("mallory", "x.test:80", s * 1000 + i, due);
  };
  for (std::int64_t s = 0; s < RefusalBudget::kAbuseSeconds - 1; ++s) flood_second(s);
  CHECK_FALSE(b.abusive("mallory", (RefusalBudget::kAbuseSeconds - 2) * 1000 + 500));
  flood_second(RefusalBudget::kAbuseSeconds - 1);
  CHECK(b.abusive("mallory", (RefusalBudget::kAbuseSeconds - 1) * 1000 + 500));
  CHECK_FALSE(b.abusive("alice", 0));
  // A quiet second, then over budget again: the count starts afresh.
  flood_second(RefusalBudget::kAbuseSeconds + 1);
  CHECK_FALSE(b.abusive("mallory", (RefusalBudget::kAbuseSeconds + 1) * 1000 + 500));
}

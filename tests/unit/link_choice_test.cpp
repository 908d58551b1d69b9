// Where the agent's pool puts a new stream (agent/link_choice.hpp), and how recent bytes fade.
#include "agent/link_choice.hpp"

#include <catch2/catch.hpp>
#include <numbers>
#include <vector>

using ferry::agent::choose_link;
using ferry::agent::kBusyMarginBytes;
using ferry::agent::LinkLoad;
using ferry::agent::RecentBytes;

TEST_CASE("recent bytes: the first sample is the baseline, then bytes count less the older they are",
          "[pool]") {
  RecentBytes r;
  r.update(5'000'000, 100);  // whatever the link moved before the pool first looked
  CHECK(r.value() == 0);
  r.update(5'000'000 + 1'000'000, 100);
  CHECK(r.value() == Approx(1'000'000));
  r.update(6'000'000, 1100);  // a second later, nothing new: half is left
  CHECK(r.value() == Approx(500'000));
  // Two more seconds and 100 bytes moved during them: a quarter of the 500,000, and of the 100 what
  // a steady trickle over those two seconds leaves: (1 - 1/4) / (2 ln 2) of it.
  r.update(6'000'000 + 100, 3100);
  CHECK(r.value() == Approx(125'000 + 100 * 0.75 / (2 * std::numbers::ln2)));
  r.update(6'000'100, 3100 + 60'000);  // a minute of quiet: nothing worth counting
  CHECK(r.value() < 1);
}

TEST_CASE("recent bytes: a transfer that runs between two samples far apart still counts", "[pool]") {
  RecentBytes r;
  r.update(0, 0);
  r.update(60'000'000'000, 60'000);  // a minute at 1 GB/s, and no stream opened meanwhile
  CHECK(r.value() == Approx(1e9 * 1000 / 1000 / std::numbers::ln2).epsilon(0.01));  // ~1.44 GB
  // Against a link that carried an ssh session, the download's link is the busy one.
  CHECK(choose_link(std::vector<LinkLoad>{{true, r.value(), 1}, {true, 5'000, 1}}) == 1u);
}

TEST_CASE("recent bytes: a clock or a counter that goes backwards adds nothing", "[pool]") {
  RecentBytes r;
  r.update(1000, 500);
  r.update(2000, 400);
  CHECK(r.value() == Approx(1000));
  r.update(1500, 400);
  CHECK(r.value() == Approx(1000));
  r.update(2500, 400);  // measured from the highest total seen
  CHECK(r.value() == Approx(1500));
}

TEST_CASE("choose_link: no link up, no choice", "[pool]") {
  CHECK_FALSE(choose_link(std::vector<LinkLoad>{}));
  CHECK_FALSE(choose_link(std::vector<LinkLoad>{{false, 0, 0}, {false, 0, 0}}));
  CHECK(choose_link(std::vector<LinkLoad>{{false, 0, 0}, {true, 9e9, 50}}) == 1u);
}

TEST_CASE("choose_link: a stream opened beside a download goes to the other link", "[pool]") {
  // The echo's stream came first, on link 0; then a download's on link 1 (fewer streams).
  CHECK(choose_link(std::vector<LinkLoad>{{true, 3'000, 1}, {true, 0, 0}}) == 1u);
  // While the download runs, new streams go to link 0, even when it holds many more streams.
  CHECK(choose_link(std::vector<LinkLoad>{{true, 40'000, 30}, {true, 80e6, 1}}) == 0u);
  CHECK(choose_link(std::vector<LinkLoad>{{true, 80e6, 1}, {true, 40'000, 30}}) == 1u);
}

TEST_CASE("choose_link: equally busy links are chosen by stream count, then least lately, then by index",
          "[pool]") {
  const double small = kBusyMarginBytes / 4;
  CHECK(choose_link(std::vector<LinkLoad>{{true, 0, 3}, {true, small, 2}}) == 1u);
  CHECK(choose_link(std::vector<LinkLoad>{{true, small, 2}, {true, 0, 2}}) == 0u);
  CHECK(choose_link(std::vector<LinkLoad>{{true, 0, 0}, {true, 0, 0}, {true, 0, 0}}) == 0u);
  // A link down is skipped whatever its figures.
  CHECK(choose_link(std::vector<LinkLoad>{{false, 0, 0}, {true, small, 5}, {true, small, 4}}) == 2u);
  // More than the margin apart: the lighter link wins although it holds more streams.
  CHECK(choose_link(std::vector<LinkLoad>{{true, 3 * kBusyMarginBytes, 1}, {true, kBusyMarginBytes, 9}}) ==
        1u);
}

TEST_CASE("choose_link: two streams opened back to back never share a link on a tie", "[pool]") {
  // An echo stream has just gone to link 0 (open 7), while link 1 still counts a stream that ended a
  // moment ago (its last acknowledgement is due): the counts tie at 1. The download opened next goes
  // to link 1, chosen least lately, not to link 0 beside the echo.
  CHECK(choose_link(std::vector<LinkLoad>{{true, 100, 1, 7}, {true, 0, 1, 5}}) == 1u);
  CHECK(choose_link(std::vector<LinkLoad>{{true, 0, 1, 5}, {true, 100, 1, 7}}) == 0u);
  // Fewer streams still come first.
  CHECK(choose_link(std::vector<LinkLoad>{{true, 0, 0, 9}, {true, 0, 1, 1}}) == 0u);
}

// The link's clocks alone: each deadline is due exactly at its interval and restarts with its event.
#include "common/link/link_timers.hpp"

#include <catch2/catch.hpp>

using namespace ferry;
using link::Instant;
using link::Millis;

namespace {

link::TimerSettings settings(bool initiator) {
  return {Millis(5000),      Millis(15000),  Millis(45000), Millis(600'000),
          Millis(3'600'000), Millis(10'000), initiator};
}

const Instant t0{1'000'000};

}  // namespace

TEST_CASE("the handshake times out at its deadline, not before", "[timers]") {
  link::LinkTimers t(settings(true));
  t.started(t0);
  CHECK_FALSE(t.handshake_overdue(t0 + Millis(4999)));
  CHECK(t.handshake_overdue(t0 + Millis(5000)));
}

TEST_CASE("nothing is due right after the handshake", "[timers]") {
  for (bool initiator : {true, false}) {
    link::LinkTimers t(settings(initiator));
    t.started(t0);
    t.established(t0 + Millis(100));
    const auto d = t.due(t0 + Millis(100));
    CHECK_FALSE((d.peer_silent || d.ping || d.rekey || d.rehandshake || d.keys_expired));
  }
}

TEST_CASE("PING every interval, restarted by sending one", "[timers][keepalive]") {
  link::LinkTimers t(settings(true));
  t.established(t0);
  CHECK_FALSE(t.due(t0 + Millis(14999)).ping);
  CHECK(t.due(t0 + Millis(15000)).ping);
  t.pinged(t0 + Millis(15000));
  CHECK_FALSE(t.due(t0 + Millis(29999)).ping);
  CHECK(t.due(t0 + Millis(30000)).ping);
}

TEST_CASE("a peer is silent after dead_after without an authenticated record", "[timers][keepalive]") {
  link::LinkTimers t(settings(false));
  t.established(t0);
  CHECK_FALSE(t.due(t0 + Millis(44999)).peer_silent);
  CHECK(t.due(t0 + Millis(45000)).peer_silent);
  t.heard(t0 + Millis(40000));
  CHECK_FALSE(t.due(t0 + Millis(84999)).peer_silent);
  CHECK(t.due(t0 + Millis(85000)).peer_silent);
}

TEST_CASE("REKEY by time counts from the send key's last change", "[timers][rekey]") {
  link::LinkTimers t(settings(true));
  t.established(t0);
  CHECK(t.due(t0 + Millis(600'000)).rekey);
  t.send_key_changed(t0 + Millis(600'000));
  CHECK_FALSE(t.due(t0 + Millis(1'199'999)).rekey);
  CHECK(t.due(t0 + Millis(1'200'000)).rekey);
}

TEST_CASE("the initiator renews hourly; the responder closes after two hours", "[timers][rehandshake]") {
  link::LinkTimers agent(settings(true)), relay(settings(false));
  agent.established(t0);
  relay.established(t0);
  const Instant hour = t0 + Millis(3'600'000);
  CHECK_FALSE(agent.due(hour - Millis(1)).rehandshake);
  CHECK(agent.due(hour).rehandshake);
  CHECK_FALSE(agent.due(hour + Millis(7'200'000)).keys_expired);  // closing is the responder's part
  CHECK_FALSE(relay.due(hour).rehandshake);
  CHECK_FALSE(relay.due(t0 + Millis(7'199'999)).keys_expired);
  CHECK(relay.due(t0 + Millis(7'200'000)).keys_expired);
  agent.rehandshake_done(hour);
  relay.rehandshake_done(hour);
  CHECK_FALSE(agent.due(hour + Millis(3'599'999)).rehandshake);
  CHECK_FALSE(relay.due(t0 + Millis(7'200'000)).keys_expired);
}

TEST_CASE("in-link handshakes closer than the gap are too soon", "[timers][rehandshake]") {
  link::LinkTimers relay(settings(false));
  relay.established(t0);
  CHECK(relay.rehandshake_too_soon(t0 + Millis(9999)));
  CHECK_FALSE(relay.rehandshake_too_soon(t0 + Millis(10'000)));
  relay.rehandshake_done(t0 + Millis(20'000));
  CHECK(relay.rehandshake_too_soon(t0 + Millis(29'999)));
  CHECK_FALSE(relay.rehandshake_too_soon(t0 + Millis(30'000)));
}

TEST_CASE("a PING answer gives the round trip; an echo from the future or an hour back does not",
          "[timers][keepalive]") {
  link::LinkTimers t(settings(true));
  t.established(t0);
  CHECK_FALSE(t.rtt());
  const auto sent = static_cast<std::uint64_t>(t0.count());
  CHECK(t.ping_answered(sent, t0 + Millis(42)) == Millis(42));
  CHECK(t.rtt() == Millis(42));
  CHECK_FALSE(t.ping_answered(sent + 1, t0));                  // sent after now
  CHECK_FALSE(t.ping_answered(sent, t0 + Millis(3'600'000)));  // an hour old
  CHECK(t.ping_answered(sent, t0 + Millis(3'599'999)) == Millis(3'599'999));
  CHECK(t.rtt() == Millis(3'599'999));
}

TEST_CASE("a probe fails 2 s after its PING unless an answer to it (or a later PING) comes",
          "[timers][probe]") {
  link::LinkTimers t(settings(true));
  t.established(t0);
  t.probing(t0 + Millis(1000));
  CHECK(t.probing());
  CHECK_FALSE(t.due(t0 + Millis(2999)).probe_failed);
  CHECK(t.due(t0 + Millis(3000)).probe_failed);
  CHECK_FALSE(t.probe_answered(static_cast<std::uint64_t>((t0 + Millis(999)).count())));  // an older PING's
  CHECK(t.probing());
  CHECK(t.probe_answered(static_cast<std::uint64_t>((t0 + Millis(1000)).count())));
  CHECK_FALSE(t.probing());
  CHECK_FALSE(t.due(t0 + Millis(9000)).probe_failed);
  CHECK_FALSE(t.probe_answered(static_cast<std::uint64_t>((t0 + Millis(1000)).count())));  // once
}

TEST_CASE("a link that sent and heard nothing back for 5 s is probed; an idle one waits for its keepalive",
          "[timers][probe]") {
  link::LinkTimers t(settings(true));
  t.established(t0);
  CHECK_FALSE(t.due(t0 + Millis(10'000)).probe);  // idle: nothing sent, nothing owed
  t.sent(t0 + Millis(10'500));  // a keepalive PING after a long quiet: the 5 s count from it
  CHECK_FALSE(t.due(t0 + Millis(15'499)).probe);
  CHECK(t.due(t0 + Millis(15'500)).probe);
  t.sent(t0 + Millis(12'000));  // more records do not restart the count
  CHECK(t.due(t0 + Millis(15'500)).probe);
  t.heard(t0 + Millis(15'000));  // the peer spoke
  CHECK_FALSE(t.due(t0 + Millis(25'000)).probe);
  t.sent(t0 + Millis(25'000));
  t.probing(t0 + Millis(30'000));
  CHECK_FALSE(t.due(t0 + Millis(30'100)).probe);  // one probe at a time
}

TEST_CASE("a probe under way when the process stops gets its whole time again once it runs",
          "[timers][probe]") {
  link::LinkTimers t(settings(true));
  t.established(t0);
  t.ticked(t0);
  t.probing(t0 + Millis(100));
  t.ticked(t0 + Millis(200));
  // Stopped for 60 s: the first tick after it must not give up on the link before reading it.
  t.ticked(t0 + Millis(60'200));
  CHECK_FALSE(t.due(t0 + Millis(60'200)).probe_failed);
  CHECK(t.due(t0 + Millis(62'200)).probe_failed);
  // The answer to the PING sent before the stop still counts.
  CHECK(t.probe_answered(static_cast<std::uint64_t>((t0 + Millis(100)).count())));
}

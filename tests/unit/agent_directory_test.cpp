// The relay's shared directory of agents (relay/agent_directory.cpp): admission by key, streams and
// links counted per key across workers, and a reload that keeps the counts of agents that stay.
#include "relay/agent_directory.hpp"

#include <catch2/catch.hpp>

using namespace ferry;

TEST_CASE("agent directory: streams and links are bounded per key", "[relay]") {
  const auto alice = crypto::SecretKey::generate().public_key();
  const auto bob = crypto::SecretKey::generate().public_key();
  config::AgentEntry entry;
  entry.name = "alice";
  entry.public_key = alice;
  relay::AgentDirectory dir({entry});
  CHECK(dir.admit(alice));
  CHECK_FALSE(dir.admit(bob));
  REQUIRE(dir.find(alice));
  CHECK(dir.find(alice)->name == "alice");

  CHECK(dir.acquire_link(alice, 2));
  CHECK(dir.acquire_link(alice, 2));
  CHECK_FALSE(dir.acquire_link(alice, 2));  // a third link of the same key
  CHECK(dir.acquire_link(bob, 2));          // another key has its own count
  dir.release_link(alice);
  CHECK(dir.acquire_link(alice, 2));
  dir.release_link(bob);
  dir.release_link(bob);  // an extra release does not underflow into a large count
  CHECK(dir.acquire_link(bob, 1));

  CHECK(dir.acquire_stream(alice, 1));
  CHECK_FALSE(dir.acquire_stream(alice, 1));
  dir.release_stream(alice);
  CHECK(dir.acquire_stream(alice, 1));
}

// docs/protocol.md 2.3: a restart forgets the last timestamp of each key, so a message 1 recorded
// before it would be answered once more. A first handshake older than the start less 2 minutes is not.
TEST_CASE("agent directory: a timestamp from before the relay started is a replay", "[relay][replay]") {
  const auto alice = crypto::SecretKey::generate().public_key();
  config::AgentEntry entry;
  entry.name = "alice";
  entry.public_key = alice;
  const auto started = std::chrono::system_clock::now();
  relay::AgentDirectory dir({entry}, started);
  CHECK_FALSE(
      dir.fresh(alice, crypto::tai64n_from(started - std::chrono::minutes(10))));  // recorded long before
  CHECK_FALSE(dir.fresh(alice, crypto::tai64n_from(started - std::chrono::seconds(121))));
  CHECK(dir.fresh(alice, crypto::tai64n_from(started - std::chrono::seconds(60))));  // a clock a minute slow
  CHECK_FALSE(dir.fresh(alice, crypto::tai64n_from(started - std::chrono::seconds(60))));  // and only once
  CHECK(dir.fresh(alice, crypto::tai64n_from(started + std::chrono::seconds(1))));
}

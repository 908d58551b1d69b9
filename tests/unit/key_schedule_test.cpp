// The key schedule alone: which KEY_UPDATE is owed, when the byte budget runs out, and how both
// directions move to an in-link handshake's keys through one install_next_keys().
#include "common/link/key_schedule.hpp"

#include <catch2/catch.hpp>
#include <string>

using namespace ferry;
using frame::KeyUpdateKind;

namespace {

// A TransportKeys whose send and receive keys are filled with `send_byte` and `recv_byte`.
crypto::TransportKeys keys_of(std::uint8_t send_byte, std::uint8_t recv_byte) {
  crypto::TransportKeys k;
  std::uint8_t key[32];
  std::fill(std::begin(key), std::end(key), send_byte);
  k.send.initialize_key(key, crypto::CipherSuite::ChaChaPoly);
  std::fill(std::begin(key), std::end(key), recv_byte);
  k.recv.initialize_key(key, crypto::CipherSuite::ChaChaPoly);
  k.handshake_hash.fill(send_byte ^ recv_byte);
  return k;
}

// True when what `from` seals, `to` opens.
bool pair_up(crypto::CipherState& from, crypto::CipherState& to) {
  std::uint8_t buf[5 + crypto::kTagBytes] = {'f', 'e', 'r', 'r', 'y'};
  auto n = from.encrypt({}, buf, 5, buf);
  if (!n) return false;
  auto m = to.decrypt({}, buf, *n, buf);
  return m && *m == 5 && buf[0] == 'f';
}

}  // namespace

TEST_CASE("the first handshake's keys are used at once; nothing is owed", "[keys]") {
  link::KeySchedule agent(1000), relay(1000);
  agent.install(keys_of(1, 2));
  relay.install(keys_of(2, 1));
  CHECK(agent.send().has_key());
  CHECK_FALSE(agent.key_update_due());
  CHECK_FALSE(agent.next_keys_pending());
  CHECK(agent.handshake_hash()[0] == 3);
  CHECK(pair_up(agent.send(), relay.recv()));
  CHECK(pair_up(relay.send(), agent.recv()));
}

TEST_CASE("new handshake keys supersede a pending REKEY, never the reverse", "[keys]") {
  link::KeySchedule k(1000);
  k.install(keys_of(1, 2));
  k.request(KeyUpdateKind::Rekey);
  k.request(KeyUpdateKind::NewHandshake);
  CHECK(k.take_key_update() == KeyUpdateKind::NewHandshake);
  CHECK_FALSE(k.key_update_due());
  k.request(KeyUpdateKind::NewHandshake);
  k.request(KeyUpdateKind::Rekey);
  CHECK(k.take_key_update() == KeyUpdateKind::NewHandshake);
}

TEST_CASE("the send key wears out after its bytes; a key change restarts the count", "[keys]") {
  link::KeySchedule k(1000);
  k.install(keys_of(1, 2));
  k.sealed(999);
  CHECK_FALSE(k.send_key_worn());
  k.sealed(1);
  CHECK(k.send_key_worn());
  k.switch_send(KeyUpdateKind::Rekey);
  CHECK_FALSE(k.send_key_worn());
  k.sealed(5000);
  k.install(keys_of(1, 2));  // a fresh first handshake starts from zero too
  CHECK_FALSE(k.send_key_worn());
}

TEST_CASE("REKEY in each direction keeps the two sides paired", "[keys]") {
  link::KeySchedule agent(1000), relay(1000);
  agent.install(keys_of(1, 2));
  relay.install(keys_of(2, 1));
  CHECK(pair_up(agent.send(), relay.recv()));
  agent.switch_send(KeyUpdateKind::Rekey);
  CHECK_FALSE(pair_up(agent.send(), relay.recv()));  // the relay has not switched yet
  agent.send().set_nonce(1);  // the failed try advanced the sender's nonce only: put it back
  REQUIRE(relay.switch_recv(KeyUpdateKind::Rekey));
  CHECK(pair_up(agent.send(), relay.recv()));
}

TEST_CASE("an in-link handshake's keys wait for each direction's KEY_UPDATE", "[keys][rehandshake]") {
  link::KeySchedule agent(1000), relay(1000);
  agent.install(keys_of(1, 2));
  relay.install(keys_of(2, 1));
  // Both roles install the same way; each then owes KEY_UPDATE kind 1.
  relay.install_next_keys(keys_of(4, 3));
  agent.install_next_keys(keys_of(3, 4));
  CHECK(relay.handshake_hash()[0] == 7);
  for (auto* k : {&agent, &relay}) {
    CHECK(k->next_keys_pending());
    REQUIRE(k->key_update_due());
  }
  // Old keys still pair until the switch.
  CHECK(pair_up(relay.send(), agent.recv()));
  relay.switch_send(relay.take_key_update());
  CHECK(relay.next_keys_pending());  // its receive side still waits for the agent's KEY_UPDATE
  REQUIRE(agent.switch_recv(KeyUpdateKind::NewHandshake));
  CHECK(pair_up(relay.send(), agent.recv()));
  agent.switch_send(agent.take_key_update());
  CHECK_FALSE(agent.next_keys_pending());
  REQUIRE(relay.switch_recv(KeyUpdateKind::NewHandshake));
  CHECK_FALSE(relay.next_keys_pending());
  CHECK(pair_up(agent.send(), relay.recv()));
}

TEST_CASE("KEY_UPDATE kind 1 without agreed keys is refused", "[keys][bad-input]") {
  link::KeySchedule k(1000);
  k.install(keys_of(1, 2));
  auto r = k.switch_recv(KeyUpdateKind::NewHandshake);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::Malformed);
  CHECK(std::string(r.error().what) == "KEY_UPDATE to keys never agreed");
  CHECK(k.recv().has_key());
}

TEST_CASE("after the CLOSE record nothing can be sealed", "[keys][close]") {
  link::KeySchedule k(1000);
  k.install(keys_of(1, 2));
  k.drop_send();
  CHECK_FALSE(k.send().has_key());
  CHECK(k.recv().has_key());
}

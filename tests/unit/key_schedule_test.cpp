// The key schedule alone: which KEY_UPDATE is owed, where it goes in a record, when the byte budget
// runs out, and how both directions move to an in-link handshake's keys through one
// install_next_keys().
#include "common/link/key_schedule.hpp"

#include <catch2/catch.hpp>
#include <string>

#include "tests/unit/key_util.hpp"
#include "tests/unit/test_util.hpp"

using namespace ferry;
using frame::KeyUpdateKind;
using test::hex;
using test::to_hex;

namespace {

// Seals one record of `frames`, with the owed KEY_UPDATE after them when `key_update`, onto `wire`.
link::KeySchedule::SealedRecord seal(link::KeySchedule& k, Bytes& wire, ByteSpan frames, bool key_update,
                                     bool last = false) {
  const std::size_t record = link::begin_record(wire);
  wire.insert(wire.end(), frames.begin(), frames.end());
  if (key_update) REQUIRE(k.put_key_update(wire, frame::kMaxRecordPlaintext - frames.size()));
  auto sealed = k.seal(wire, record, last);
  REQUIRE(sealed);
  return *sealed;
}

// Every record of `wire` opened with `k`'s receive key: the plaintexts, one after another.
Result<Bytes> open_all(link::KeySchedule& k, Bytes wire) {
  auto records = test::open_records(k.recv(), std::move(wire));
  if (!records) return records.error();
  Bytes plain;
  for (const Bytes& r : *records) plain.insert(plain.end(), r.begin(), r.end());
  return plain;
}

// The peer's record ended with KEY_UPDATE `kind`: whether the receive key changed after it.
Result<bool> peer_sent_key_update(link::KeySchedule& k, KeyUpdateKind kind) {
  const Bytes payload{static_cast<std::uint8_t>(kind)};
  if (auto ok = k.peer_key_update(payload, true); !ok) return ok.error();
  return k.peer_record_done();
}

const char* const kPing1 = "06000000000000080000000000000001";  // PING, stream 0, 8 bytes: 1
const char* const kPing2 = "06000000000000080000000000000002";
const char* const kRekey = "080000000000000100";         // KEY_UPDATE, stream 0, 1 byte: kind 0
const char* const kNewHandshake = "080000000000000101";  // kind 1

}  // namespace

TEST_CASE("the first handshake's keys are used at once; nothing is owed", "[keys]") {
  link::KeySchedule agent(1000), relay(1000);
  agent.install(test::transport_keys(1, 2));
  relay.install(test::transport_keys(2, 1));
  CHECK(agent.send().has_key());
  CHECK_FALSE(agent.key_update_due());
  CHECK_FALSE(agent.next_keys_pending());
  CHECK(agent.handshake_hash()[0] == 3);
  CHECK(test::pair_up(agent.send(), relay.recv()));
  CHECK(test::pair_up(relay.send(), agent.recv()));
}

TEST_CASE("new handshake keys supersede a pending REKEY, never the reverse", "[keys]") {
  link::KeySchedule k(1000);
  k.install(test::transport_keys(1, 2));
  k.request(KeyUpdateKind::Rekey);
  k.request(KeyUpdateKind::NewHandshake);
  Bytes out;
  REQUIRE(k.put_key_update(out, 9));
  CHECK(to_hex(out) == kNewHandshake);
  CHECK_FALSE(k.key_update_due());
  k.request(KeyUpdateKind::NewHandshake);
  k.request(KeyUpdateKind::Rekey);
  out.clear();
  REQUIRE(k.put_key_update(out, 9));
  CHECK(to_hex(out) == kNewHandshake);
}

TEST_CASE("KEY_UPDATE goes in only when owed and where its 9 bytes fit", "[keys]") {
  link::KeySchedule k(1000);
  k.install(test::transport_keys(1, 2));
  Bytes out;
  CHECK_FALSE(k.put_key_update(out, 100));
  k.request(KeyUpdateKind::Rekey);
  CHECK_FALSE(k.put_key_update(out, 8));
  CHECK(out.empty());
  CHECK(k.key_update_due());  // still owed, for the next record
  REQUIRE(k.put_key_update(out, 9));
  CHECK(to_hex(out) == kRekey);
}

TEST_CASE("the send key changes after the record that carries KEY_UPDATE, not before", "[keys]") {
  link::KeySchedule agent(1000), relay(1000);
  agent.install(test::transport_keys(1, 2));
  relay.install(test::transport_keys(2, 1));
  Bytes wire;
  CHECK_FALSE(seal(agent, wire, hex(kPing1), false).send_key_changed);
  agent.request(KeyUpdateKind::Rekey);
  const auto sealed = seal(agent, wire, hex(kPing2), true);
  CHECK(sealed.send_key_changed);
  CHECK(sealed.bytes == 16 + 9 + crypto::kTagBytes);
  // Both records open under the relay's old key: KEY_UPDATE was the last thing sealed with it.
  auto plain = open_all(relay, wire);
  REQUIRE(plain);
  CHECK(to_hex(*plain) == std::string(kPing1) + kPing2 + kRekey);
  wire.clear();
  seal(agent, wire, hex(kPing1), false);
  CHECK_FALSE(open_all(relay, wire));  // forged, as far as the old key can tell
  REQUIRE(*peer_sent_key_update(relay, KeyUpdateKind::Rekey));
  CHECK(open_all(relay, wire));
}

TEST_CASE("the send key wears out after its bytes; a key change restarts the count", "[keys]") {
  link::KeySchedule k(100);
  k.install(test::transport_keys(1, 2));
  Bytes wire;
  CHECK(seal(k, wire, Bytes(83, 0), false).bytes == 99);
  CHECK_FALSE(k.send_key_worn());
  seal(k, wire, Bytes(1, 0), false);  // 17 more: 116
  CHECK(k.send_key_worn());
  k.request(KeyUpdateKind::Rekey);
  seal(k, wire, {}, true);  // the record that carries KEY_UPDATE still counts under the old key
  CHECK_FALSE(k.send_key_worn());
  seal(k, wire, Bytes(200, 0), false);
  CHECK(k.send_key_worn());
  k.install(test::transport_keys(1, 2));  // a fresh first handshake starts from zero too
  CHECK_FALSE(k.send_key_worn());
}

TEST_CASE("REKEY in each direction keeps the two sides paired", "[keys]") {
  link::KeySchedule agent(1000), relay(1000);
  agent.install(test::transport_keys(1, 2));
  relay.install(test::transport_keys(2, 1));
  CHECK(test::pair_up(agent.send(), relay.recv()));
  agent.request(KeyUpdateKind::Rekey);
  Bytes wire;
  seal(agent, wire, {}, true);
  REQUIRE(open_all(relay, wire));
  CHECK_FALSE(test::pair_up(agent.send(), relay.recv()));  // the relay has not switched yet
  agent.send().set_nonce(2);  // the failed try advanced the sender's nonce only: put it back
  REQUIRE(*peer_sent_key_update(relay, KeyUpdateKind::Rekey));
  CHECK(test::pair_up(agent.send(), relay.recv()));
}

TEST_CASE("an in-link handshake's keys wait for each direction's KEY_UPDATE", "[keys][rehandshake]") {
  link::KeySchedule agent(1000), relay(1000);
  agent.install(test::transport_keys(1, 2));
  relay.install(test::transport_keys(2, 1));
  // Both roles install the same way; each then owes KEY_UPDATE kind 1.
  relay.install_next_keys(test::transport_keys(4, 3));
  agent.install_next_keys(test::transport_keys(3, 4));
  CHECK(relay.handshake_hash()[0] == 7);
  for (auto* k : {&agent, &relay}) {
    CHECK(k->next_keys_pending());
    REQUIRE(k->key_update_due());
  }
  // Old keys still pair until the switch.
  CHECK(test::pair_up(relay.send(), agent.recv()));
  Bytes wire;
  CHECK(seal(relay, wire, {}, true).send_key_changed);
  auto plain = open_all(agent, wire);  // under the old key
  REQUIRE(plain);
  CHECK(to_hex(*plain) == kNewHandshake);
  CHECK(relay.next_keys_pending());  // its receive side still waits for the agent's KEY_UPDATE
  REQUIRE(*peer_sent_key_update(agent, KeyUpdateKind::NewHandshake));
  CHECK(test::pair_up(relay.send(), agent.recv()));
  wire.clear();
  CHECK(seal(agent, wire, {}, true).send_key_changed);
  REQUIRE(open_all(relay, wire));
  CHECK_FALSE(agent.next_keys_pending());
  REQUIRE(*peer_sent_key_update(relay, KeyUpdateKind::NewHandshake));
  CHECK_FALSE(relay.next_keys_pending());
  CHECK(test::pair_up(agent.send(), relay.recv()));
}

TEST_CASE("the peer's KEY_UPDATE must end its record; the receive key changes after the record",
          "[keys][bad-input]") {
  link::KeySchedule agent(1000), relay(1000);
  agent.install(test::transport_keys(1, 2));
  relay.install(test::transport_keys(2, 1));
  auto not_last = relay.peer_key_update(hex("00"), false);
  REQUIRE_FALSE(not_last);
  CHECK(std::string(not_last.error().what) == "KEY_UPDATE is not the last frame of its record");
  auto bad_kind = relay.peer_key_update(hex("02"), true);
  REQUIRE_FALSE(bad_kind);
  CHECK(std::string(bad_kind.error().what) == "KEY_UPDATE must be 1 byte: 0 or 1");
  auto nothing = relay.peer_record_done();
  REQUIRE(nothing);
  CHECK_FALSE(*nothing);
  // Announced: the rest of the record is still under the old key.
  REQUIRE(relay.peer_key_update(hex("00"), true));
  CHECK(test::pair_up(agent.send(), relay.recv()));
  agent.request(KeyUpdateKind::Rekey);
  Bytes wire;
  seal(agent, wire, {}, true);
  REQUIRE(open_all(relay, wire));
  auto switched = relay.peer_record_done();
  REQUIRE(switched);
  CHECK(*switched);
  CHECK(test::pair_up(agent.send(), relay.recv()));
}

TEST_CASE("KEY_UPDATE kind 1 without agreed keys is refused", "[keys][bad-input]") {
  link::KeySchedule k(1000);
  k.install(test::transport_keys(1, 2));
  auto r = peer_sent_key_update(k, KeyUpdateKind::NewHandshake);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::Malformed);
  CHECK(std::string(r.error().what) == "KEY_UPDATE to keys never agreed");
  CHECK(k.recv().has_key());
}

TEST_CASE("after the CLOSE record nothing can be sealed", "[keys][close]") {
  link::KeySchedule k(1000);
  k.install(test::transport_keys(1, 2));
  Bytes close, wire;
  frame::put_close(close, {frame::CloseCode::Normal, "bye"});
  seal(k, wire, close, false, true);
  CHECK_FALSE(k.send().has_key());
  CHECK(k.recv().has_key());
}

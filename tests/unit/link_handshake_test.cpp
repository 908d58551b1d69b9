// The handshake driver alone, both roles in memory, with the payloads each side sees as byte vectors:
// the first handshake, the refusals in their order (admission after the second DH, replay before
// version), the version mismatch that is still answered, and in-link handshakes that must keep the
// link's peer and session id.
#include "common/link/link_handshake.hpp"

#include <catch2/catch.hpp>

#include "common/link/record_codec.hpp"
#include "tests/unit/key_util.hpp"
#include "tests/unit/link_harness.hpp"
#include "tests/unit/test_util.hpp"

using namespace ferry;
using link::LinkHandshake;
using test::hex;
using test::to_hex;

namespace {

const auto kNov2023 = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));
const crypto::Tai64n kFirst = crypto::tai64n_from(kNov2023);
const crypto::Tai64n kLater = crypto::tai64n_from(kNov2023 + std::chrono::hours(1));

const crypto::SuiteSet kBothSuites{crypto::CipherSuite::ChaChaPoly, crypto::CipherSuite::AesGcm};

struct Sides {
  crypto::SecretKey agent_key = test::secret_from_hex(std::string(64, '2'));
  crypto::SecretKey relay_key = test::secret_from_hex(std::string(64, '1'));
  test::ListAdmission admission;
  link::HandshakeSettings agent_settings, relay_settings;
  std::optional<LinkHandshake> agent, relay;

  Sides() {
    admission.allowed.push_back(agent_key.public_key());
    agent_settings.static_key = &agent_key;
    agent_settings.relay_key = relay_key.public_key();
    relay_settings.static_key = &relay_key;
    relay_settings.admission = &admission;
    relay_settings.accept_suites = kBothSuites;
    make();
  }
  // After a change to the settings.
  void make() {
    agent.emplace(agent_settings);
    relay.emplace(relay_settings);
  }

  // Runs a whole handshake; returns the keys as {agent's, relay's}.
  std::pair<crypto::TransportKeys, crypto::TransportKeys> run(const crypto::Tai64n& ts) {
    auto m1 = agent->offer(crypto::CipherSuite::ChaChaPoly, ts);
    REQUIRE(m1);
    auto reply = relay->answer(*m1);
    REQUIRE(reply);
    REQUIRE(reply->keys);
    auto keys = agent->finish(reply->message2);
    REQUIRE(keys);
    return {std::move(*keys), std::move(*reply->keys)};
  }
};

// Message 2's payload as the initiator's Noise state decrypts it.
Bytes payload_of_message2(crypto::HandshakeIK& initiator, ByteSpan message2) {
  auto p = initiator.read_message2(message2);
  REQUIRE(p);
  return *p;
}

}  // namespace

TEST_CASE("both roles agree on keys, the peer, the session id and the relay's suites", "[handshake]") {
  Sides s;
  CHECK(s.agent->peer_suites() == crypto::SuiteSet{crypto::CipherSuite::ChaChaPoly});
  auto m1 = s.agent->offer(crypto::CipherSuite::ChaChaPoly, kFirst);
  REQUIRE(m1);
  CHECK(m1->size() == 110);
  CHECK(s.agent->awaiting_reply());
  auto reply = s.relay->answer(*m1);
  REQUIRE(reply);
  REQUIRE(reply->keys);
  CHECK(reply->message2.size() == 66);
  CHECK(s.relay->peer() == s.agent_key.public_key());
  auto keys = s.agent->finish(reply->message2);
  REQUIRE(keys);
  CHECK_FALSE(s.agent->awaiting_reply());
  CHECK(s.agent->peer() == s.relay_key.public_key());
  CHECK(s.agent->session_id() == s.relay->session_id());
  CHECK(s.agent->session_id() != link::SessionId{});
  CHECK(s.agent->peer_suites() == kBothSuites);
  CHECK(keys->handshake_hash == reply->keys->handshake_hash);
  CHECK(test::pair_up(keys->send, reply->keys->recv));
  CHECK(test::pair_up(reply->keys->send, keys->recv));
}

TEST_CASE("the payloads on the wire: timestamp, version, flags; version, session id, suites",
          "[handshake][payload]") {
  Sides s;
  auto m1 = s.agent->offer(crypto::CipherSuite::ChaChaPoly, kFirst);
  REQUIRE(m1);
  auto raw_relay = crypto::HandshakeIK::responder(s.relay_key, test::RawPeer::prologue());
  REQUIRE(raw_relay.read_message1_identity(*m1));
  auto p1 = raw_relay.read_message1_payload();
  REQUIRE(p1);
  CHECK(to_hex(*p1) == "400000006553f10a000000000100");

  auto raw_agent =
      crypto::HandshakeIK::initiator(s.agent_key, s.relay_key.public_key(), test::RawPeer::prologue());
  auto raw_m1 = raw_agent.write_message1(*p1);
  REQUIRE(raw_m1);
  auto reply = s.relay->answer(*raw_m1);
  REQUIRE(reply);
  const auto& sid = s.relay->session_id();
  CHECK(to_hex(payload_of_message2(raw_agent, reply->message2)) == "01" + to_hex(sid) + "03");
}

TEST_CASE("a stranger is refused after the second DH, before its timestamp is looked at",
          "[handshake][admission]") {
  Sides s;
  s.admission.allowed.clear();
  auto m1 = s.agent->offer(crypto::CipherSuite::ChaChaPoly, kFirst);
  auto reply = s.relay->answer(*m1);
  REQUIRE_FALSE(reply);
  CHECK(reply.error().code == Errc::Refused);
  CHECK(std::string(reply.error().what) == "the initiator's key is not admitted");
  CHECK(s.admission.admit_calls == 1);
  CHECK(s.admission.last.empty());
}

TEST_CASE("a replay is refused before its version is looked at", "[handshake][admission][version]") {
  Sides s;
  s.agent_settings.wire_version = 2;
  s.make();
  auto m1 = s.agent->offer(crypto::CipherSuite::ChaChaPoly, kFirst);
  REQUIRE(m1);
  auto first = s.relay->answer(*m1);
  REQUIRE(first);  // answered once, to name the versions
  s.make();
  auto again = s.relay->answer(*m1);
  REQUIRE_FALSE(again);
  CHECK(again.error().code == Errc::Replay);
  CHECK(std::string(again.error().what) == "handshake timestamp is not newer than the last");
}

TEST_CASE("an admitted agent with another version is answered, then refused; the agent names it too",
          "[handshake][version]") {
  Sides s;
  s.agent_settings.wire_version = 2;
  s.make();
  auto m1 = s.agent->offer(crypto::CipherSuite::ChaChaPoly, kFirst);
  auto reply = s.relay->answer(*m1);
  REQUIRE(reply);
  REQUIRE_FALSE(reply->keys);
  CHECK(reply->keys.error().code == Errc::BadVersion);
  CHECK(std::string(reply->keys.error().what) == "the agent speaks another wire version");
  CHECK(s.relay->peer() == s.agent_key.public_key());
  auto keys = s.agent->finish(reply->message2);
  REQUIRE_FALSE(keys);
  CHECK(keys.error().code == Errc::BadVersion);
  CHECK(std::string(keys.error().what) == "the relay speaks another wire version");
  CHECK(s.agent->peer() == crypto::PublicKey{});
}

TEST_CASE("message 1 with a payload of 13 bytes is malformed", "[handshake][bad-input]") {
  Sides s;
  auto raw_agent =
      crypto::HandshakeIK::initiator(s.agent_key, s.relay_key.public_key(), test::RawPeer::prologue());
  auto m1 = raw_agent.write_message1(hex("400000006553f10a0000000001"));
  auto reply = s.relay->answer(*m1);
  REQUIRE_FALSE(reply);
  CHECK(reply.error().code == Errc::Malformed);
  CHECK(std::string(reply.error().what) == "handshake payload is too short");
}

TEST_CASE("message 2: too short, without suites, and a reply nobody asked for", "[handshake][bad-input]") {
  Sides s;
  auto reply_with = [&](const Bytes& payload) {
    auto m1 = s.agent->offer(crypto::CipherSuite::ChaChaPoly, kFirst);
    auto raw = crypto::HandshakeIK::responder(s.relay_key, test::RawPeer::prologue());
    REQUIRE(raw.read_message1_identity(*m1));
    REQUIRE(raw.read_message1_payload());
    auto m2 = raw.write_message2(payload);
    REQUIRE(m2);
    return s.agent->finish(*m2);
  };
  const std::string session = "000102030405060708090a0b0c0d0e0f";
  auto short_one = reply_with(hex("01" + session.substr(2)));  // a byte short
  REQUIRE_FALSE(short_one);
  CHECK(std::string(short_one.error().what) == "handshake payload 2 is too short");
  auto old_relay = reply_with(hex("01" + session));  // a relay from before the suites byte
  REQUIRE(old_relay);
  CHECK(s.agent->peer_suites() == crypto::SuiteSet{crypto::CipherSuite::ChaChaPoly});
  CHECK(to_hex(s.agent->session_id()) == session);
  auto unasked = s.agent->finish(hex("00"));
  REQUIRE_FALSE(unasked);
  CHECK(std::string(unasked.error().what) == "an in-link handshake reply nobody asked for");
}

TEST_CASE("an in-link handshake keeps the session id and needs a timestamp newer than the link's last",
          "[handshake][rehandshake]") {
  Sides s;
  (void)s.run(kFirst);
  const link::SessionId sid = s.relay->session_id();
  // The agent's newest timestamp, from another link of its pool, is not this link's concern.
  REQUIRE(s.admission.fresh(s.agent_key.public_key(), kLater));
  auto [agent_keys, relay_keys] = s.run(crypto::tai64n_from(kNov2023 + std::chrono::minutes(1)));
  CHECK(test::pair_up(agent_keys.send, relay_keys.recv));
  CHECK(s.relay->session_id() == sid);
  CHECK(s.agent->session_id() == sid);
  // No newer than this link's last: a replay.
  auto m1 = s.agent->offer(crypto::CipherSuite::ChaChaPoly, kFirst);
  auto replay = s.relay->answer(*m1);
  REQUIRE_FALSE(replay);
  CHECK(replay.error().code == Errc::Replay);
}

TEST_CASE("an in-link handshake from another key, a revoked key, or oversized is refused",
          "[handshake][rehandshake][bad-input]") {
  Sides s;
  (void)s.run(kFirst);
  SECTION("another key, even an admitted one") {
    const auto other = test::secret_from_hex(std::string(64, '3'));
    s.admission.allowed.push_back(other.public_key());
    auto raw = crypto::HandshakeIK::initiator(other, s.relay_key.public_key(), test::RawPeer::prologue());
    link::Message1Payload payload;
    payload.timestamp = kLater;
    auto m1 = raw.write_message1(payload.encode());
    auto reply = s.relay->answer(*m1);
    REQUIRE_FALSE(reply);
    CHECK(reply.error().code == Errc::Malformed);
    CHECK(std::string(reply.error().what) == "an in-link handshake with another key");
  }
  SECTION("a key no longer admitted") {
    s.admission.allowed.clear();
    auto reply = s.relay->answer(*s.agent->offer(crypto::CipherSuite::ChaChaPoly, kLater));
    REQUIRE_FALSE(reply);
    CHECK(reply.error().code == Errc::Refused);
    CHECK(std::string(reply.error().what) == "the initiator's key is no longer admitted");
  }
  SECTION("larger than a handshake record") {
    auto reply = s.relay->answer(Bytes(link::kMaxHandshakeRecord + 1, 0));
    REQUIRE_FALSE(reply);
    CHECK(reply.error().code == Errc::TooLarge);
  }
}

TEST_CASE("an in-link message 2 must repeat the session id", "[handshake][rehandshake][bad-input]") {
  Sides s;
  (void)s.run(kFirst);
  auto m1 = s.agent->offer(crypto::CipherSuite::ChaChaPoly, kLater);
  auto raw = crypto::HandshakeIK::responder(s.relay_key, test::RawPeer::prologue());
  REQUIRE(raw.read_message1_identity(*m1));
  REQUIRE(raw.read_message1_payload());
  link::Message2Payload payload;
  payload.session_id = s.agent->session_id();
  payload.accept_suites = kBothSuites;
  payload.session_id[0] ^= 1;
  auto keys = s.agent->finish(*raw.write_message2(payload.encode()));
  REQUIRE_FALSE(keys);
  CHECK(keys.error().code == Errc::Malformed);
  CHECK(std::string(keys.error().what) == "an in-link handshake changed the session id or its resumption");
}

namespace {

// A relay's sessions as the handshake asks about them: one id held here, one by another worker.
struct TwoSessions : link::SessionFinder {
  link::SessionId here{}, elsewhere{};
  crypto::PublicKey owner{};
  Found find(const crypto::PublicKey& who, const link::SessionId& id) override {
    if (!(who == owner)) return Found::Nowhere;
    if (id == here) return Found::Here;
    return id == elsewhere ? Found::Elsewhere : Found::Nowhere;
  }
};

}  // namespace

TEST_CASE("version 2 is agreed only when the agent offers it and the relay holds sessions",
          "[handshake][resume]") {
  for (const auto& [offers, grace, agreed] :
       {std::tuple{true, 90, true}, {true, 0, false}, {false, 90, false}, {false, 0, false}}) {
    INFO("agent offers " << offers << ", relay grace " << grace);
    Sides s;
    s.agent_settings.resumable = offers;
    s.relay_settings.grace_s = static_cast<std::uint16_t>(grace);
    s.make();
    (void)s.run(kFirst);
    CHECK(s.agent->resumable() == agreed);
    CHECK(s.relay->resumable() == agreed);
    CHECK(s.agent->grace_s() == (agreed ? grace : 0));
    CHECK_FALSE(s.agent->resumed());
    CHECK(s.agent->session_id() == s.relay->session_id());
  }
}

TEST_CASE("a resume names its session: held here it is resumed, unknown a new one is made",
          "[handshake][resume]") {
  TwoSessions sessions;
  Sides s;
  sessions.owner = s.agent_key.public_key();
  sessions.here = link::SessionId{7, 7, 7};
  sessions.elsewhere = link::SessionId{9, 9, 9};
  s.agent_settings.resumable = true;
  s.relay_settings.grace_s = 90;
  s.relay_settings.sessions = &sessions;
  s.make();

  auto m1 = s.agent->offer(crypto::CipherSuite::ChaChaPoly, kFirst, sessions.here);
  REQUIRE(m1);
  CHECK(m1->size() == 110 + 16);  // the session id rides in the payload
  auto reply = s.relay->answer(*m1);
  REQUIRE(reply);
  REQUIRE(reply->keys);
  REQUIRE(s.agent->finish(reply->message2));
  CHECK(s.agent->resumed());
  CHECK(s.agent->session_id() == sessions.here);

  s.make();  // a fresh link; the admission keeps the newest timestamp
  auto unknown = s.agent->offer(crypto::CipherSuite::ChaChaPoly, kLater, link::SessionId{1});
  auto answered = s.relay->answer(*unknown);
  REQUIRE(answered);
  REQUIRE(s.agent->finish(answered->message2));
  CHECK_FALSE(s.agent->resumed());
  CHECK(s.agent->resumable());
  CHECK(s.agent->session_id() != link::SessionId{1});
}

TEST_CASE("a resume of another worker's session moves before its timestamp is spent", "[handshake][resume]") {
  TwoSessions sessions;
  Sides s;
  sessions.owner = s.agent_key.public_key();
  sessions.elsewhere = link::SessionId{9, 9, 9};
  s.agent_settings.resumable = true;
  s.relay_settings.grace_s = 90;
  s.relay_settings.sessions = &sessions;
  s.make();
  auto m1 = s.agent->offer(crypto::CipherSuite::ChaChaPoly, kFirst, sessions.elsewhere);
  REQUIRE(m1);
  auto moved = s.relay->answer(*m1);
  REQUIRE_FALSE(moved);
  CHECK(moved.error().code == Errc::Moved);
  REQUIRE(s.relay->moved());
  CHECK(s.relay->moved()->session == sessions.elsewhere);
  CHECK(s.relay->moved()->message1 == *m1);  // as it came, for the holder to read again
  CHECK(s.relay->peer() == s.agent_key.public_key());
  // The worker that holds it reads the same message 1: its timestamp is still fresh.
  sessions.here = sessions.elsewhere;
  sessions.elsewhere = {};
  link::LinkHandshake holder(s.relay_settings);
  auto reply = holder.answer(*m1);
  REQUIRE(reply);
  REQUIRE(reply->keys);
  REQUIRE(s.agent->finish(reply->message2));
  CHECK(s.agent->resumed());

  // Another key cannot name it: to the relay it is nobody's.
  sessions.owner = crypto::PublicKey{};
  Sides other;
  other.agent_settings.resumable = true;
  other.relay_settings.grace_s = 90;
  other.relay_settings.sessions = &sessions;
  other.make();
  auto theirs = other.agent->offer(crypto::CipherSuite::ChaChaPoly, kFirst, sessions.here);
  auto refused = other.relay->answer(*theirs);
  REQUIRE(refused);
  REQUIRE(other.agent->finish(refused->message2));
  CHECK_FALSE(other.agent->resumed());
}

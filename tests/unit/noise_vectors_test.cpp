// Every Noise_IK_25519_ChaChaPoly_SHA256 vector in tests/vectors/noise-ik.json and every
// Noise_IK_25519_AESGCM_SHA256 vector in tests/vectors/noise-ik-aesgcm.json, read at run time,
// through our handshake and transport: each message byte for byte, both directions.
#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/crypto/handshake_ik.hpp"
#include "tests/unit/test_util.hpp"

using namespace ferry;
using ferry::test::hex;
using ferry::test::to_hex;

namespace {

struct Vector {
  std::string source;
  Bytes prologue;
  std::string init_static, init_ephemeral, resp_static, resp_ephemeral;
  std::string handshake_hash;                     // may be empty
  std::vector<std::pair<Bytes, Bytes>> messages;  // (payload, ciphertext)
};

std::vector<Vector> load(const std::string& path, std::string_view protocol) {
  std::ifstream in(path);
  if (!in) FAIL("cannot open " << path);
  const auto doc = nlohmann::json::parse(in);
  std::vector<Vector> out;
  for (const auto& src : doc.at("sources")) {
    const std::string format = src.at("format");
    for (const auto& v : src.at("vectors")) {
      Vector t;
      t.source = src.at("source");
      std::string name;
      if (format == "flynn-kv") {
        name = v.at("handshake");
        t.prologue = hex(v.value("prologue", ""));
        t.init_static = v.at("init_static");
        t.resp_static = v.at("resp_static");
        t.init_ephemeral = v.at("gen_init_ephemeral");
        t.resp_ephemeral = v.at("gen_resp_ephemeral");
        for (int i = 0;; ++i) {
          const std::string p = "msg_" + std::to_string(i) + "_payload",
                            c = "msg_" + std::to_string(i) + "_ciphertext";
          if (!v.contains(c)) break;
          t.messages.emplace_back(hex(v.at(p).get<std::string>()), hex(v.at(c).get<std::string>()));
        }
      } else {
        // Older cacophony files, like noise-c's, call the field "name".
        name = v.contains("protocol_name") ? v.at("protocol_name") : v.at("name");
        t.prologue = hex(v.at("init_prologue").get<std::string>());
        REQUIRE(v.at("resp_prologue") == v.at("init_prologue"));
        t.init_static = v.at("init_static");
        t.resp_static = v.at("resp_static");
        t.init_ephemeral = v.at("init_ephemeral");
        t.resp_ephemeral = v.at("resp_ephemeral");
        t.handshake_hash = v.value("handshake_hash", "");
        for (const auto& m : v.at("messages"))
          t.messages.emplace_back(hex(m.at("payload").get<std::string>()),
                                  hex(m.at("ciphertext").get<std::string>()));
      }
      if (name == protocol) out.push_back(std::move(t));
    }
  }
  return out;
}

void check_vectors(const std::vector<Vector>& vectors, crypto::CipherSuite suite) {
  // cacophony 1, snow 1, noise-c-basic 1, flynn 4 (vectors/README.md, tests/vectors/README.md).
  REQUIRE(vectors.size() == 7);
  std::size_t transport_checked = 0;
  for (const auto& v : vectors) {
    INFO("source " << v.source);
    const auto is = test::secret_from_hex(v.init_static);
    const auto rs = test::secret_from_hex(v.resp_static);
    auto init = crypto::HandshakeIK::initiator(is, rs.public_key(), v.prologue, suite);
    // The responder accepts both suites and must find the initiator's by trial.
    auto resp = crypto::HandshakeIK::responder(
        rs, v.prologue, crypto::SuiteSet{crypto::CipherSuite::ChaChaPoly, crypto::CipherSuite::AesGcm});
    init.set_ephemeral(test::secret_from_hex(v.init_ephemeral));
    resp.set_ephemeral(test::secret_from_hex(v.resp_ephemeral));
    REQUIRE(v.messages.size() >= 2);

    auto m1 = init.write_message1(v.messages[0].first);
    REQUIRE(m1);
    CHECK(to_hex(*m1) == to_hex(v.messages[0].second));
    auto who = resp.read_message1_identity(v.messages[0].second);
    REQUIRE(who);
    CHECK(*who == is.public_key());
    CHECK(resp.suite() == suite);
    auto p1 = resp.read_message1_payload();
    REQUIRE(p1);
    CHECK(*p1 == v.messages[0].first);

    auto m2 = resp.write_message2(v.messages[1].first);
    REQUIRE(m2);
    CHECK(to_hex(*m2) == to_hex(v.messages[1].second));
    auto p2 = init.read_message2(v.messages[1].second);
    REQUIRE(p2);
    CHECK(*p2 == v.messages[1].first);

    auto ik = init.split();
    auto rk = resp.split();
    CHECK(ik.handshake_hash == rk.handshake_hash);
    CHECK(ik.send.suite() == suite);
    CHECK(rk.recv.suite() == suite);
    if (!v.handshake_hash.empty()) CHECK(to_hex(ik.handshake_hash) == v.handshake_hash);

    for (std::size_t i = 2; i < v.messages.size(); ++i) {
      const auto& [payload, ct] = v.messages[i];
      auto& sender = (i % 2 == 0) ? ik.send : rk.send;
      auto& receiver = (i % 2 == 0) ? rk.recv : ik.recv;
      Bytes out(payload.size() + crypto::kTagBytes);
      auto n = sender.encrypt({}, payload.data(), payload.size(), out.data());
      REQUIRE(n);
      CHECK(to_hex(out) == to_hex(ct));
      Bytes back(ct.size());
      auto m = receiver.decrypt({}, ct.data(), ct.size(), back.data());
      REQUIRE(m);
      back.resize(*m);
      CHECK(back == payload);
      ++transport_checked;
    }
  }
  CHECK(transport_checked >= 7 * 2);
}

}  // namespace

TEST_CASE("every Noise_IK_25519_ChaChaPoly_SHA256 vector passes", "[noise][vectors]") {
  check_vectors(load(std::string(FERRY_VECTORS_DIR) + "/noise-ik.json", "Noise_IK_25519_ChaChaPoly_SHA256"),
                crypto::CipherSuite::ChaChaPoly);
}

TEST_CASE("every Noise_IK_25519_AESGCM_SHA256 vector passes", "[noise][vectors]") {
  check_vectors(
      load(std::string(FERRY_VECTORS_DIR) + "/noise-ik-aesgcm.json", "Noise_IK_25519_AESGCM_SHA256"),
      crypto::CipherSuite::AesGcm);
}

// Writes the seed corpus for the fuzz targets from the same shapes the unit tests use:
//   make_corpus DIR   ->  DIR/link_frame/*, DIR/handshake/*, DIR/mux/*, DIR/record_codec/*,
//                         DIR/handshake_payload/*
// The seeds are committed; rerun this after a wire format change.
#include <sodium.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "common/codec/link_frame.hpp"
#include "common/link/handshake_payload.hpp"
#include "common/link/link_session.hpp"
#include "common/link/record_codec.hpp"
#include "tests/fuzz/fuzz_keys.hpp"

using namespace ferry;

namespace {

void write(const std::filesystem::path& dir, const std::string& name, ByteSpan b) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary)
      .write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

Bytes all_frames() {
  Bytes r;
  frame::put_open(r, 1, frame::Open{262144, Target::host("intranet.example", 443)});
  frame::put_open(r, 3, frame::Open{65536, Target::ipv4({192, 0, 2, 1}, 80)});
  frame::put_open(
      r, 5,
      frame::Open{65536, Target::ipv6({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 22)});
  frame::put_data(r, 1, Bytes{'G', 'E', 'T', ' ', '/'}, false);
  frame::put_window(r, 1, {32768, 32768});
  frame::put_data(r, 3, {}, true);
  frame::put_reset(r, 5, frame::ResetCode::Cancel);
  frame::put_open_result(r, 1, {frame::OpenCode::Denied, 0, "deny loopback"});
  frame::put_ping(r, 12345, false);
  frame::put_goaway(r, {7, frame::CloseCode::Shutdown, "draining"});
  frame::put_key_update(r, frame::KeyUpdateKind::Rekey);
  frame::put_rehandshake(r, Bytes(110, 0x42));
  frame::put_close(r, {frame::CloseCode::Normal, "bye"});
  return r;
}

struct Quiet : link::LinkEvents {
  void on_data(link::StreamId, ByteSpan) override {}
  void on_fin(link::StreamId) override {}
  void on_reset(link::StreamId, frame::ResetCode) override {}
  void on_closed(const Error&) override {}
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 || sodium_init() < 0) {
    std::fprintf(stderr, "usage: make_corpus DIR\n");
    return 2;
  }
  const std::filesystem::path root = argv[1];
  const Bytes frames = all_frames();
  write(root / "link_frame", "all-types", frames);
  write(root / "mux", "all-types", frames);
  Bytes opens;
  for (std::uint32_t id = 1; id < 40; id += 2)
    frame::put_open(opens, id, frame::Open{4096, Target::host("h.example", 80)});
  for (std::uint32_t id = 1; id < 40; id += 2) frame::put_data(opens, id, Bytes(5000, 1), id % 4 == 1);
  write(root / "mux", "many-streams", opens);

  // A real message 1 from the fixed agent key to the fixed relay key, framed as on the wire, in each
  // cipher suite.
  Bytes chacha_message1;
  for (const auto suite : crypto::kAllSuites) {
    Quiet ev;
    link::LinkConfig c;
    c.role = link::LinkConfig::Role::Initiator;
    c.static_key = &fuzz::agent_key();
    c.peer_key = fuzz::relay_key().public_key();
    c.suite = suite;
    link::LinkSession agent(c, ev);
    agent.start(link::Instant{0});
    Bytes msg1;
    agent.produce(msg1, 1 << 16);
    if (suite == crypto::CipherSuite::ChaChaPoly) chacha_message1 = msg1;
    const std::string prefix =
        suite == crypto::CipherSuite::AesGcm ? "aesgcm-message1-chunk" : "message1-chunk";
    for (std::uint8_t chunk : {0, 1, 6, 63}) {
      Bytes seed{chunk};
      seed.insert(seed.end(), msg1.begin(), msg1.end());
      write(root / "handshake", prefix + std::to_string(chunk), seed);
    }
  }
  Bytes bad{0, 0xFF, 0xFF};
  write(root / "handshake", "oversized", bad);

  // The record layer; the first byte is record_codec_fuzz's settings (read size, suite, kind).
  auto record_seed = [&](const std::string& name, std::uint8_t settings, ByteSpan stream) {
    Bytes seed{settings};
    seed.insert(seed.end(), stream.begin(), stream.end());
    write(root / "record_codec", name, seed);
  };
  record_seed("handshake-message1", 0x80 | 5, chacha_message1);
  record_seed("handshake-oversized", 0x80, Bytes{0x02, 0x01});
  Bytes records;
  link::append_record(records, Bytes{'a'});
  link::append_record(records, Bytes{'b', 'c'});
  link::append_record(records, frames);
  record_seed("transport-records", 6, records);
  record_seed("transport-aesgcm-whole-reads", 0x40 | 0x3F, records);
  record_seed("empty-record", 2, Bytes{0, 1, 'a', 0, 0, 0, 1, 'b'});
  record_seed("unfinished-tail", 1, Bytes{0, 3, 'a', 'b'});
  // The handshake payloads, as the unit tests write them; the fuzz target reads every seed both ways.
  link::Message1Payload hello;
  hello.timestamp =
      crypto::tai64n_from(std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000)));
  const Bytes payload1 = hello.encode();
  write(root / "handshake_payload", "message1", payload1);
  Bytes payload1_trailing = payload1;
  payload1_trailing.insert(payload1_trailing.end(), 16, 0x5a);
  write(root / "handshake_payload", "message1-trailing", payload1_trailing);
  write(root / "handshake_payload", "message1-short", ByteSpan(payload1).first(13));
  link::Message2Payload answer;
  for (std::uint8_t i = 0; i < answer.session_id.size(); ++i)
    answer.session_id[i] = static_cast<std::uint8_t>(0x10 + i);
  answer.accept_suites = crypto::SuiteSet{crypto::CipherSuite::ChaChaPoly, crypto::CipherSuite::AesGcm};
  const Bytes payload2 = answer.encode();
  write(root / "handshake_payload", "message2", payload2);
  write(root / "handshake_payload", "message2-no-suites", ByteSpan(payload2).first(17));
  write(root / "handshake_payload", "message2-short", ByteSpan(payload2).first(16));
  // Version 2 (stream resumption): an offer, a resume that names its session, and the answers.
  link::Message1Payload resume = hello;
  resume.flags = link::Message1Payload::kFlagSpeaksV2;
  write(root / "handshake_payload", "message1-offers-v2", resume.encode());
  resume.resume = answer.session_id;
  const Bytes payload1_resume = resume.encode();
  write(root / "handshake_payload", "message1-resume", payload1_resume);
  write(root / "handshake_payload", "message1-resume-short", ByteSpan(payload1_resume).first(20));
  answer.wire_version = link::kResumableWireVersion;
  answer.resumed = true;
  answer.grace_s = 90;
  const Bytes payload2_v2 = answer.encode();
  write(root / "handshake_payload", "message2-v2-resumed", payload2_v2);
  write(root / "handshake_payload", "message2-v2-short", ByteSpan(payload2_v2).first(20));
  std::printf("corpus written to %s\n", root.c_str());
  return 0;
}

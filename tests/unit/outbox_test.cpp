// The order a link's bytes leave in, record by record, as the peer opens them: the handshake message
// first and in clear, control frames leading each record, KEY_UPDATE ending its record with stream
// frames held for the next key, and the CLOSE record last.
#include "common/link/outbox.hpp"

#include <catch2/catch.hpp>
#include <string>

#include "tests/unit/key_util.hpp"
#include "tests/unit/test_util.hpp"

using namespace ferry;
using test::hex;
using test::to_hex;

namespace {

const std::string kPing = "06000000000000080000000000000007";  // PING, stream 0, 8 bytes: 7
const std::string kRekey = "080000000000000100";               // KEY_UPDATE kind 0

struct Quiet : link::LinkEvents {
  void on_data(link::StreamId, ByteSpan) override {}
  void on_fin(link::StreamId) override {}
  void on_reset(link::StreamId, frame::ResetCode) override {}
  void on_closed(const Error&) override {}
};

struct Link {
  Quiet events;
  link::Mux mux{link::Mux::Side::Initiator, link::MuxLimits{}, events};
  link::KeySchedule keys{1 << 30};
  crypto::TransportKeys peer = test::transport_keys(2, 1);
  link::Outbox outbox{1 << 20};

  Link() { keys.install(test::transport_keys(1, 2)); }

  void ping() {
    REQUIRE(outbox.control().push([](Bytes& b) { frame::put_ping(b, 7, false); }));
  }
  // The OPEN the mux queues for a stream to h.example:80, as bytes.
  std::string open_stream() {
    REQUIRE(mux.open(Target::host("h.example", 80)));
    Bytes b;
    frame::put_open(b, 1, frame::Open{link::MuxLimits{}.initial_window, Target::host("h.example", 80)});
    return to_hex(b);
  }
  // Seals records while there is output, as the session does; their plaintexts in hex, as the peer
  // opens them (switching its receive key after a record that ends with KEY_UPDATE).
  std::vector<std::string> drain(link::Mux* streams) {
    std::vector<std::string> got;
    while (outbox.has_output(keys, streams) && keys.send().has_key()) {
      Bytes wire;
      auto record = outbox.seal_next(wire, keys, streams);
      REQUIRE(record);
      if (!record->sealed) break;
      auto plain = test::open_records(peer.recv, wire);
      REQUIRE(plain);
      REQUIRE(plain->size() == 1);
      got.push_back(to_hex(plain->front()));
      if (record->send_key_changed) peer.recv.rekey();
      if (record->last) break;
    }
    return got;
  }
};

}  // namespace

TEST_CASE("the handshake message leaves first, in a record of its own and in clear", "[outbox]") {
  Link l;
  CHECK_FALSE(l.outbox.has_output(l.keys, nullptr));
  REQUIRE(l.outbox.put_handshake(hex("c0ffee"), false));
  CHECK(l.outbox.has_output(l.keys, nullptr));
  Bytes out;
  l.outbox.take_handshake(out);
  CHECK(to_hex(out) == "0003c0ffee");
  CHECK_FALSE(l.outbox.has_output(l.keys, nullptr));
}

TEST_CASE("an in-link handshake message is a REHANDSHAKE frame among the control frames", "[outbox]") {
  Link l;
  l.ping();
  REQUIRE(l.outbox.put_handshake(hex("c0ffee"), true));
  Bytes out;
  l.outbox.take_handshake(out);
  CHECK(out.empty());
  CHECK(l.drain(nullptr).empty());  // control frames leave only while the link is up or closing
  CHECK(l.drain(&l.mux) == std::vector<std::string>{kPing + "0900000000000003c0ffee"});
  link::Outbox full(10);                                   // the frame is 11 bytes
  REQUIRE_FALSE(full.put_handshake(hex("c0ffee"), true));  // past the control frames' bound
}

TEST_CASE("the session's control frames lead a record; stream frames fill it", "[outbox]") {
  Link l;
  l.ping();
  const std::string open = l.open_stream();
  CHECK(l.drain(&l.mux) == std::vector<std::string>{kPing + open});
}

TEST_CASE("an owed KEY_UPDATE ends its record; stream frames wait for the new key", "[outbox][keys]") {
  Link l;
  l.ping();
  const std::string open = l.open_stream();
  l.keys.request(frame::KeyUpdateKind::Rekey);
  CHECK(l.drain(&l.mux) == std::vector<std::string>{kPing + kRekey, open});
}

TEST_CASE("KEY_UPDATE waits behind control frames that fill a record", "[outbox][keys]") {
  Link l;
  for (int i = 0; i < 4096; ++i) l.ping();  // 65,536 bytes: 4,094 fit in a record
  l.keys.request(frame::KeyUpdateKind::Rekey);
  auto records = l.drain(&l.mux);
  REQUIRE(records.size() == 2);
  CHECK(records[0].size() / 2 == 4094 * 16);
  CHECK(records[1] == kPing + kPing + kRekey);
}

TEST_CASE("the CLOSE record is the last: control frames before it go, stream frames do not",
          "[outbox][close]") {
  Link l;
  l.ping();
  (void)l.open_stream();
  l.outbox.close({frame::CloseCode::Normal, "bye"});
  // The link has ended: the session no longer hands over its streams.
  CHECK(l.drain(nullptr) == std::vector<std::string>{kPing + "0a000000000000050003627965"});
  CHECK_FALSE(l.keys.send().has_key());
  CHECK_FALSE(l.outbox.has_output(l.keys, nullptr));
}

TEST_CASE("with nothing to send, no record is sealed and the buffer stays as it was", "[outbox]") {
  Link l;
  Bytes out = hex("aa");
  auto record = l.outbox.seal_next(out, l.keys, &l.mux);
  REQUIRE(record);
  CHECK_FALSE(record->sealed);
  CHECK(to_hex(out) == "aa");
}

// The record layer alone, with byte vectors: framing, the length checks of both record kinds, a
// record split at every point, several records in one read, and sealing against a known answer.
#include "common/link/record_codec.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "tests/unit/split_util.hpp"
#include "tests/unit/test_util.hpp"

using namespace ferry;
using link::RecordKind;
using test::hex;
using test::to_hex;

namespace {

const std::uint8_t kKey[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                               17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

crypto::CipherState keys_of(const std::uint8_t* key = kKey) {
  crypto::CipherState cs;
  cs.initialize_key(key, crypto::CipherSuite::ChaChaPoly);
  return cs;
}

std::string text_of(ByteSpan b) { return std::string(b.begin(), b.end()); }

// Every record `reader` yields for `wire` cut into reads of `chunk` bytes, copied out after each read
// (spans last that long), or the error text.
std::vector<std::string> read_all(link::RecordReader& reader, Bytes wire, std::size_t chunk,
                                  RecordKind kind = RecordKind::Transport) {
  std::vector<std::string> got;
  for (std::size_t off = 0; off < wire.size(); off += chunk) {
    MutByteSpan in = MutByteSpan(wire).subspan(off, std::min(chunk, wire.size() - off));
    std::vector<ByteSpan> this_read;
    while (!in.empty()) {
      auto r = reader.next(in, kind);
      if (!r) {
        for (ByteSpan b : this_read) got.push_back(text_of(b));
        got.push_back(std::string("error: ") + r.error().what);
        return got;
      }
      if (!*r) break;
      this_read.push_back(**r);
    }
    for (ByteSpan b : this_read) got.push_back(text_of(b));
  }
  return got;
}

}  // namespace

TEST_CASE("a record is a 2-byte big-endian length, then that many bytes", "[record]") {
  const Bytes wire = hex("0003616263");
  auto body = test::require_every_split(
      [](ByteSpan in) { return link::decode_record(in, RecordKind::Transport); }, wire);
  CHECK(text_of(body) == "abc");

  // Message 1 as docs/protocol.md 2.2 shows it: 00 6e and 110 bytes, a 112-byte record.
  Bytes message1 = hex("006e");
  message1.resize(112, 0x42);
  body = test::require_every_split([](ByteSpan in) { return link::decode_record(in, RecordKind::Handshake); },
                                   message1);
  CHECK(body.size() == 110);

  Bytes framed;
  link::append_record(framed, ByteSpan(message1).subspan(2));
  CHECK(framed == message1);
}

TEST_CASE("two records in one buffer decode one after the other", "[record]") {
  const Bytes wire =
      hex("000161"
          "00026263");
  auto first = link::decode_record(wire, RecordKind::Transport);
  REQUIRE(first);
  REQUIRE(first->msg);
  CHECK(text_of(*first->msg) == "a");
  CHECK(first->used == 3);
  auto second = link::decode_record(ByteSpan(wire).subspan(first->used), RecordKind::Transport);
  REQUIRE(second);
  REQUIRE(second->msg);
  CHECK(text_of(*second->msg) == "bc");
  CHECK(second->used == 4);
}

TEST_CASE("record lengths are checked as soon as the header is in", "[record][bad-input]") {
  SECTION("an empty record, of either kind") {
    for (auto kind : {RecordKind::Handshake, RecordKind::Transport}) {
      auto r = link::decode_record(hex("0000"), kind);
      REQUIRE_FALSE(r);
      CHECK(r.error().code == Errc::Malformed);
      CHECK(std::string(r.error().what) == "an empty record");
    }
  }
  SECTION("a handshake record over 512 bytes, before its body arrives") {
    auto r = link::decode_record(hex("0201"), RecordKind::Handshake);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::TooLarge);
    CHECK(std::string(r.error().what) == "an oversized handshake record");
    Bytes at_limit = hex("0200");
    at_limit.resize(2 + 512);
    auto ok = link::decode_record(at_limit, RecordKind::Handshake);
    REQUIRE(ok);
    CHECK(ok->used == at_limit.size());
  }
  SECTION("a transport record may use all 65535 bytes") {
    auto r = link::decode_record(hex("ffff"), RecordKind::Transport);
    REQUIRE(r);
    CHECK_FALSE(r->msg);
    Bytes full = hex("ffff");
    full.resize(2 + 65535);
    auto whole = link::decode_record(full, RecordKind::Transport);
    REQUIRE(whole);
    CHECK(whole->used == 65537);
    CHECK(link::kMaxRecordBody == 65535);
  }
}

TEST_CASE("the reader yields the same records whatever the reads", "[record]") {
  Bytes wire =
      hex("000161"
          "00026263"
          "0003646566");
  Bytes big = hex("ffff");
  big.resize(2 + 65535, 'x');
  wire.insert(wire.end(), big.begin(), big.end());
  const std::vector<std::string> want = {"a", "bc", "def", std::string(65535, 'x')};
  for (std::size_t chunk : {std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{5}, std::size_t{7},
                            std::size_t{4096}, wire.size()}) {
    INFO("reads of " << chunk << " bytes");
    link::RecordReader reader;
    CHECK(read_all(reader, wire, chunk) == want);
    CHECK(reader.partial_bytes() == 0);
  }
}

TEST_CASE("a whole record is used where it lies; a split one is gathered and outlives the read", "[record]") {
  link::RecordReader reader;
  Bytes first =
      hex("0003616263"
          "0002");  // one whole record, then the start of a second
  MutByteSpan in(first);
  auto a = reader.next(in, RecordKind::Transport);
  REQUIRE(a);
  REQUIRE(*a);
  CHECK((*a)->data() == first.data() + 2);  // no copy: decrypted in place
  auto more = reader.next(in, RecordKind::Transport);
  REQUIRE(more);
  CHECK_FALSE(*more);
  CHECK(in.empty());
  CHECK(reader.partial_bytes() == 2);

  // The second record completes at the start of the next read, which also starts a third.
  Bytes second =
      hex("6465"
          "0003");
  in = MutByteSpan(second);
  auto b = reader.next(in, RecordKind::Transport);
  REQUIRE(b);
  REQUIRE(*b);
  const ByteSpan gathered = **b;
  CHECK(text_of(gathered) == "de");
  auto c = reader.next(in, RecordKind::Transport);
  REQUIRE(c);
  CHECK_FALSE(*c);
  CHECK(text_of(gathered) == "de");  // still valid: the third record gathers in the other buffer

  SECTION("trim keeps the record half received") {
    reader.trim();
    CHECK(reader.partial_bytes() == 2);
    Bytes third = hex("666768");
    CHECK(read_all(reader, third, third.size()) == std::vector<std::string>{"fgh"});
  }
  SECTION("drop_partial forgets it") {
    reader.drop_partial();
    CHECK(reader.partial_bytes() == 0);
    Bytes fresh = hex("000178");
    CHECK(read_all(reader, fresh, 1) == std::vector<std::string>{"x"});
  }
}

TEST_CASE("the limit is the one of the kind in force when the header arrives", "[record][bad-input]") {
  link::RecordReader reader;
  Bytes wire = hex("02");
  MutByteSpan in(wire);
  auto r = reader.next(in, RecordKind::Transport);  // half a header: no verdict yet
  REQUIRE(r);
  CHECK_FALSE(*r);
  Bytes rest = hex("01");
  in = MutByteSpan(rest);
  r = reader.next(in, RecordKind::Handshake);
  REQUIRE_FALSE(r);
  CHECK(std::string(r.error().what) == "an oversized handshake record");

  link::RecordReader later;
  Bytes head = hex("0201");
  in = MutByteSpan(head);
  r = later.next(in, RecordKind::Transport);  // accepted as a transport header...
  REQUIRE(r);
  CHECK_FALSE(*r);
  Bytes body(0x201, 'y');
  in = MutByteSpan(body);
  r = later.next(in, RecordKind::Handshake);  // ...and not checked again when its body arrives
  REQUIRE(r);
  REQUIRE(*r);
  CHECK((*r)->size() == 0x201);
}

TEST_CASE("a bad record after good ones fails after they were yielded", "[record][bad-input]") {
  for (std::size_t chunk : {std::size_t{1}, std::size_t{100}}) {
    link::RecordReader reader;
    CHECK(read_all(reader,
                   hex("000161"
                       "0000"
                       "000162"),
                   chunk) == std::vector<std::string>{"a", "error: an empty record"});
  }
}

TEST_CASE("sealing in place matches ChaCha20-Poly1305 and opens again", "[record][noise]") {
  crypto::CipherState send = keys_of(), recv = keys_of();
  Bytes out = hex("aa");  // bytes already in the batch stay
  const std::size_t record = link::begin_record(out);
  CHECK(record == 1);
  frame::put_ping(out, 0x0102030405060708ull, false);
  CHECK(link::record_plaintext_bytes(out, record) == 16);
  auto sealed = link::seal_record(out, record, send);
  REQUIRE(sealed);
  CHECK(*sealed == 32);
  // The PING frame 06 00 00000000 0008 0102030405060708 under key 01..20, nonce 0 (RFC 8439 AEAD,
  // computed with Python's cryptography package).
  CHECK(to_hex(out) ==
        "aa"
        "0020"
        "658ad71667c2a9319a49355492d8aa30e76483f505080b629e588e854914c7b3");

  MutByteSpan in = MutByteSpan(out).subspan(1);
  link::RecordReader reader;
  auto body = reader.next(in, RecordKind::Transport);
  REQUIRE(body);
  REQUIRE(*body);
  auto plain = link::open_record(**body, recv);
  REQUIRE(plain);
  CHECK(to_hex(*plain) == "06000000000000080102030405060708");
  CHECK(recv.nonce() == 1);
}

TEST_CASE("a forged record does not open and leaves the nonce", "[record][noise][bad-input]") {
  crypto::CipherState send = keys_of(), recv = keys_of();
  Bytes out;
  const std::size_t record = link::begin_record(out);
  frame::put_ping(out, 7, true);
  REQUIRE(link::seal_record(out, record, send));
  out.back() ^= 1;
  auto plain = link::open_record(MutByteSpan(out).subspan(2), recv);
  REQUIRE_FALSE(plain);
  CHECK(plain.error().code == Errc::DecryptFailed);
  CHECK(recv.nonce() == 0);
}

TEST_CASE("a record that cannot be sealed is taken back out", "[record][noise]") {
  crypto::CipherState send = keys_of();
  send.set_nonce(crypto::CipherState::kReservedNonce);
  Bytes out = hex("0001ff");
  const std::size_t record = link::begin_record(out);
  frame::put_ping(out, 7, false);
  auto sealed = link::seal_record(out, record, send);
  REQUIRE_FALSE(sealed);
  CHECK(sealed.error().code == Errc::NonceExhausted);
  CHECK(to_hex(out) == "0001ff");
}

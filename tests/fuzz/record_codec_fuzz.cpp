// The record layer on its own: a link's TCP byte stream cut into reads of a fuzzer-chosen size.
//
// Input: one byte of settings, then the stream. Bits 0-5 of the settings: the read size - 1; bit 6:
// AES-256-GCM for the round trip (else ChaCha20-Poly1305); bit 7: the records are handshake records
// (else transport records).
//
// 1. Framing: whatever the reads, RecordReader yields exactly the records decode_record() finds one
//    after another in the whole stream, and fails exactly where decode_record() does; without a
//    failure it holds the stream's unfinished tail and nothing more.
// 2. Round trip: the stream cut into plaintexts of the read size, each sealed into a record, read
//    back in reads of another size and opened, gives back the same plaintexts in order.
#include <cstdint>
#include <cstring>
#include <vector>

#include "common/link/record_codec.hpp"
#include "tests/fuzz/fuzz_assert.hpp"

using namespace ferry;

namespace {

void framing(ByteSpan stream, std::size_t read_size, link::RecordKind kind) {
  Bytes wire(stream.begin(), stream.end());  // the reader's copy; `stream` stays the reference
  link::RecordReader reader;
  std::size_t consumed = 0;  // the whole records yielded so far, headers included
  for (std::size_t off = 0; off < wire.size(); off += read_size) {
    MutByteSpan in = MutByteSpan(wire).subspan(off, std::min(read_size, wire.size() - off));
    while (!in.empty()) {
      const std::size_t before = in.size();
      auto got = reader.next(in, kind);
      if (got && !*got) {
        FERRY_FUZZ_ASSERT(in.empty());  // "need more" only once the read is used up
        break;
      }
      auto want = link::decode_record(stream.subspan(consumed), kind);
      if (!got) {
        FERRY_FUZZ_ASSERT(!want && std::strcmp(got.error().what, want.error().what) == 0);
        return;
      }
      FERRY_FUZZ_ASSERT(in.size() < before);  // progress
      FERRY_FUZZ_ASSERT(want->msg && want->msg->size() == (*got)->size());
      FERRY_FUZZ_ASSERT(!(*got)->empty() && (*got)->size() <= link::max_record_body(kind));
      FERRY_FUZZ_ASSERT(std::memcmp(want->msg->data(), (*got)->data(), (*got)->size()) == 0);
      consumed += want->used;
    }
  }
  auto tail = link::decode_record(stream.subspan(consumed), kind);
  FERRY_FUZZ_ASSERT(tail && !tail->msg);
  FERRY_FUZZ_ASSERT(reader.partial_bytes() == stream.size() - consumed);
}

void round_trip(ByteSpan stream, std::size_t piece, crypto::CipherSuite suite) {
  static const std::uint8_t key[32] = {7};
  crypto::CipherState send, recv;
  send.initialize_key(key, suite);
  recv.initialize_key(key, suite);
  Bytes wire;
  for (std::size_t off = 0; off < stream.size(); off += piece) {
    const ByteSpan plain = stream.subspan(off, std::min(piece, stream.size() - off));
    const std::size_t record = link::begin_record(wire);
    wire.insert(wire.end(), plain.begin(), plain.end());
    FERRY_FUZZ_ASSERT(link::record_plaintext_bytes(wire, record) == plain.size());
    auto sealed = link::seal_record(wire, record, send);
    FERRY_FUZZ_ASSERT(sealed && *sealed == plain.size() + crypto::kTagBytes);
    FERRY_FUZZ_ASSERT(wire.size() == record + link::kRecordHeaderBytes + *sealed);
  }
  const std::size_t read_size = 1 + piece * 7 % 61;
  link::RecordReader reader;
  std::size_t opened = 0;  // plaintext bytes given back so far
  for (std::size_t off = 0; off < wire.size(); off += read_size) {
    MutByteSpan in = MutByteSpan(wire).subspan(off, std::min(read_size, wire.size() - off));
    while (!in.empty()) {
      auto body = reader.next(in, link::RecordKind::Transport);
      FERRY_FUZZ_ASSERT(body);
      if (!*body) break;
      auto plain = link::open_record(**body, recv);
      FERRY_FUZZ_ASSERT(plain);
      const std::size_t expect = std::min(piece, stream.size() - opened);
      FERRY_FUZZ_ASSERT(plain->size() == expect);
      FERRY_FUZZ_ASSERT(std::memcmp(plain->data(), stream.data() + opened, expect) == 0);
      opened += expect;
    }
  }
  FERRY_FUZZ_ASSERT(opened == stream.size() && reader.partial_bytes() == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* p, std::size_t n) {
  if (n < 1) return 0;
  const std::size_t read_size = 1 + (p[0] & 0x3F);
  const auto suite = p[0] & 0x40 ? crypto::CipherSuite::AesGcm : crypto::CipherSuite::ChaChaPoly;
  const auto kind = p[0] & 0x80 ? link::RecordKind::Handshake : link::RecordKind::Transport;
  const ByteSpan stream(p + 1, n - 1);
  framing(stream, read_size, kind);
  round_trip(stream, read_size, suite);
  return 0;
}

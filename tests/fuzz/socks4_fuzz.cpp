// SOCKS4/4a decoding: requests back to back. Every decoded request re-encodes to its own bytes, and no
// strict prefix of them is an error or a message.
#include <algorithm>
#include <cstdint>
#include <span>

#include "common/codec/socks4.hpp"
#include "tests/fuzz/fuzz_assert.hpp"

using namespace ferry;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* p, std::size_t n) {
  ByteSpan in{p, n};
  while (!in.empty()) {
    auto r = socks4::decode_request(in);
    if (!r || !r->msg) break;
    FERRY_FUZZ_ASSERT(r->used >= 9 && r->used <= in.size());
    FERRY_FUZZ_ASSERT(r->msg->user_id.size() <= socks4::kMaxUserIdBytes);
    // A 4a request whose DSTIP is 0.0.0.x re-encodes as 0.0.0.1: compare all but that byte.
    const Bytes again = socks4::encode_request(*r->msg);
    FERRY_FUZZ_ASSERT(again.size() == r->used);
    for (std::size_t i = 0; i < again.size(); ++i)
      FERRY_FUZZ_ASSERT(again[i] == in[i] || (i == 7 && r->msg->target.kind == Target::Kind::Name));
    for (std::size_t cut = 0; cut < r->used; ++cut) {
      auto part = socks4::decode_request(in.first(cut));
      FERRY_FUZZ_ASSERT(part && !part->msg && part->used == 0);
    }
    in = in.subspan(r->used);
  }
  return 0;
}

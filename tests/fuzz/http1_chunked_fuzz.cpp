// The chunked scanner must give the same answer however the body is split across reads. Input:
//   byte 0       bit 7: small limits (to reach the limit paths); bits 0-3: number of split points k
//   bytes 1..k   the length of each piece (the last piece takes the rest)
//   the rest     the bytes after a chunked message head
#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>

#include "common/codec/http1_chunked.hpp"
#include "tests/fuzz/fuzz_assert.hpp"

using namespace ferry;
using namespace ferry::http1;

namespace {

struct Outcome {
  bool error = false;
  bool done = false;
  std::size_t used = 0;
  bool operator==(const Outcome&) const = default;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* p, std::size_t n) {
  if (n == 0) return 0;
  const ChunkLimits limits = (p[0] & 0x80) ? ChunkLimits{8, 16} : ChunkLimits{};
  const std::size_t k = std::min<std::size_t>(p[0] & 0x0F, n - 1);
  const ByteSpan sizes{p + 1, k};
  const ByteSpan body{p + 1 + k, n - 1 - k};

  ChunkedScanner whole_scanner{limits};
  Outcome whole;
  if (auto r = whole_scanner.feed(body)) {
    whole = {false, r->done, r->used};
    FERRY_FUZZ_ASSERT(r->used <= body.size() && (r->done || r->used == body.size()));
  } else {
    whole.error = true;
  }

  ChunkedScanner split_scanner{limits};
  Outcome split;
  ByteSpan rest = body;
  for (std::size_t i = 0; i <= k && !split.error; ++i) {
    const std::size_t len = i < k ? std::min<std::size_t>(sizes[i], rest.size()) : rest.size();
    auto r = split_scanner.feed(rest.first(len));
    rest = rest.subspan(len);
    if (!r) {
      split.error = true;
      break;
    }
    FERRY_FUZZ_ASSERT(r->used <= len);
    FERRY_FUZZ_ASSERT(r->done || r->used == len);    // until the end, every byte is body
    FERRY_FUZZ_ASSERT(!split.done || r->used == 0);  // after the end, nothing is
    split.used += r->used;
    split.done = r->done;
  }
  if (split.error) split = {true, false, 0};
  if (whole.error) whole = {true, false, 0};
  FERRY_FUZZ_ASSERT(split == whole);
  FERRY_FUZZ_ASSERT(whole_scanner.done() == whole.done);
  return 0;
}

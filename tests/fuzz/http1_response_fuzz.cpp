// Responses from origins: status-line and head, then framing for a GET, a HEAD and a CONNECT, and
// bodies skipped as the agent would skip them. A response head must not be an error at any prefix.
#include <cstdint>
#include <span>

#include "common/codec/http1_body.hpp"
#include "common/codec/http1_chunked.hpp"
#include "common/codec/http1_head.hpp"
#include "tests/fuzz/fuzz_assert.hpp"

using namespace ferry;
using namespace ferry::http1;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* p, std::size_t n) {
  ByteSpan in{p, n};
  while (!in.empty()) {
    auto r = decode_response_head(in);
    if (!r || !r->msg) return 0;
    FERRY_FUZZ_ASSERT(r->used > 0 && r->used <= in.size());
    auto part = decode_response_head(in.first(r->used - 1));
    FERRY_FUZZ_ASSERT(part && !part->msg);
    const auto& head = *r->msg;
    FERRY_FUZZ_ASSERT(head.line.status >= 100 && head.line.status <= 599);
    in = in.subspan(r->used);
    auto head_framing = response_body("HEAD", head);
    FERRY_FUZZ_ASSERT(!head_framing || head_framing->kind == BodyKind::None ||
                      head_framing->kind == BodyKind::Tunnel);
    (void)response_body("CONNECT", head);
    auto framing = response_body("GET", head);
    if (!framing) return 0;
    if (framing->kind == BodyKind::Length) {
      if (framing->length > in.size()) return 0;
      in = in.subspan(static_cast<std::size_t>(framing->length));
    } else if (framing->kind == BodyKind::Chunked) {
      ChunkedScanner scanner;
      auto s = scanner.feed(in);
      if (!s || !s->done) return 0;
      in = in.subspan(s->used);
    } else if (framing->kind != BodyKind::None) {
      return 0;  // close-delimited or a tunnel: the rest is not HTTP
    }
  }
  return 0;
}

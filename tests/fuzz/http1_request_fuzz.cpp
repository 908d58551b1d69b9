// The HTTP front end's parsing path over one client's byte stream: request heads back to back, each
// one's request-target, body framing and credentials, and bodies skipped by Content-Length or the
// chunked scanner, as the agent does with pipelined requests. A forwarded head must itself parse,
// use every byte, and frame its body exactly as the client's head did: a rewrite that changed the
// framing would be a request-smuggling bug.
#include <algorithm>
#include <cstdint>
#include <span>

#include "common/codec/http1_auth.hpp"
#include "common/codec/http1_body.hpp"
#include "common/codec/http1_chunked.hpp"
#include "common/codec/http1_head.hpp"
#include "common/codec/http1_response.hpp"
#include "common/codec/http1_rewrite.hpp"
#include "common/codec/http1_target.hpp"
#include "tests/fuzz/fuzz_assert.hpp"

using namespace ferry;
using namespace ferry::http1;

namespace {

// The rewrite adds Host, Via and Connection and may lengthen Via: room for those.
constexpr Limits kForwardedLimits{16 * 1024, 200, 64 * 1024};

void check_forwarded(const RequestHead& head, const RequestTarget& target, const BodyFraming& framing) {
  const auto fwd = rewrite_request(head, target, wants_upgrade(head));
  auto again = decode_request_head(fwd.bytes, kForwardedLimits);
  FERRY_FUZZ_ASSERT(again && again->msg && again->used == fwd.bytes.size());
  const auto& out = *again->msg;
  FERRY_FUZZ_ASSERT(out.method == head.method && out.target == target.origin_form &&
                    out.version == head.version);
  FERRY_FUZZ_ASSERT(count_headers(out.headers, "Host") == 1 &&
                    find_header(out.headers, "Host")->value == target.authority);
  FERRY_FUZZ_ASSERT(!find_header(out.headers, "Proxy-Authorization") &&
                    !find_header(out.headers, "Proxy-Connection"));
  FERRY_FUZZ_ASSERT(find_header(out.headers, "Via") != nullptr);
  auto out_framing = request_body(out);
  FERRY_FUZZ_ASSERT(out_framing && *out_framing == framing);
  FERRY_FUZZ_ASSERT(fwd.keep_alive == client_keep_alive(head));
}

// Skips the body of a request; false when the stream cannot go on (error, or the body runs to the end).
bool skip_body(ByteSpan& in, const BodyFraming& framing) {
  if (framing.kind == BodyKind::Length) {
    if (framing.length > in.size()) return false;
    in = in.subspan(static_cast<std::size_t>(framing.length));
    return true;
  }
  if (framing.kind != BodyKind::Chunked) return framing.kind == BodyKind::None;
  ChunkedScanner scanner;
  auto p = scanner.feed(in);
  if (!p || !p->done) return false;
  FERRY_FUZZ_ASSERT(p->used > 0 && p->used <= in.size());
  in = in.subspan(p->used);
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* p, std::size_t n) {
  ByteSpan in{p, n};
  while (!in.empty()) {
    auto r = decode_request_head(in);
    if (!r) {
      const int status = status_for(r.error());
      FERRY_FUZZ_ASSERT(status == 400 || status == 414 || status == 431 || status == 505);
      (void)error_response(status, describe(r.error()));
      return 0;
    }
    if (!r->msg) return 0;
    FERRY_FUZZ_ASSERT(r->used > 0 && r->used <= in.size());
    for (std::size_t cut : {r->used - 1, r->used / 2}) {
      auto part = decode_request_head(in.first(cut));
      FERRY_FUZZ_ASSERT(part && !part->msg && part->used == 0);
    }
    const RequestHead& head = *r->msg;
    in = in.subspan(r->used);
    (void)proxy_credentials(head);
    auto target = parse_request_target(head.method, head.target);
    auto framing = request_body(head);
    if (!target || !framing) return 0;
    if (target->form == TargetForm::Absolute) check_forwarded(head, *target, *framing);
    if (target->form == TargetForm::Authority) return 0;  // CONNECT: the rest is tunnel bytes
    if (!skip_body(in, *framing)) return 0;
  }
  return 0;
}

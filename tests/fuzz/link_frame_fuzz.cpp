// Link frame decoding: every frame in a decrypted record, and each payload parser. Parsed OPEN frames
// must round-trip through the encoder.
#include <algorithm>
#include <cstdint>
#include <span>

#include "common/codec/link_frame.hpp"
#include "tests/fuzz/fuzz_assert.hpp"

using namespace ferry;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* p, std::size_t n) {
  ByteSpan in{p, n};
  while (!in.empty()) {
    std::size_t used = 0;
    auto f = frame::decode(in, used);
    if (!f) break;
    FERRY_FUZZ_ASSERT(used >= frame::kHeaderBytes && used <= in.size());
    FERRY_FUZZ_ASSERT(f->payload.size() == used - frame::kHeaderBytes);
    switch (f->type) {
      case frame::Type::Open:
        if (auto o = frame::parse_open(f->payload)) {
          Bytes again;
          frame::put_open(again, f->stream, *o);
          std::size_t used2 = 0;
          auto f2 = frame::decode(again, used2);
          FERRY_FUZZ_ASSERT(f2 && used2 == again.size());
          auto o2 = frame::parse_open(f2->payload);
          FERRY_FUZZ_ASSERT(o2 && o2->target == o->target && o2->window == o->window);
        }
        break;
      case frame::Type::OpenResult:
        (void)frame::parse_open_result(f->payload);
        break;
      case frame::Type::Window:
        (void)frame::parse_window(f->payload);
        break;
      case frame::Type::Reset:
        (void)frame::parse_reset(f->payload);
        break;
      case frame::Type::Ping:
        (void)frame::parse_ping(f->payload);
        break;
      case frame::Type::GoAway:
        (void)frame::parse_goaway(f->payload);
        break;
      case frame::Type::KeyUpdate:
        (void)frame::parse_key_update(f->payload);
        break;
      case frame::Type::Close:
        (void)frame::parse_close(f->payload);
        break;
      case frame::Type::Resume:
        if (auto r = frame::parse_resume(f->payload)) {
          FERRY_FUZZ_ASSERT(r->allowed >= r->received);
          Bytes again;
          frame::put_resume(again, f->stream, f->flags, *r);
          FERRY_FUZZ_ASSERT(ByteSpan(again).subspan(frame::kHeaderBytes).size() == f->payload.size());
          FERRY_FUZZ_ASSERT(
              std::equal(f->payload.begin(), f->payload.end(), again.begin() + frame::kHeaderBytes));
        }
        break;
      case frame::Type::Routes:
        if (auto r = frame::parse_routes(f->payload)) {  // what parses encodes to the same bytes
          Bytes again;
          frame::put_routes(again, *r);
          FERRY_FUZZ_ASSERT(again.size() - frame::kHeaderBytes == f->payload.size());
          FERRY_FUZZ_ASSERT(
              std::equal(f->payload.begin(), f->payload.end(), again.begin() + frame::kHeaderBytes));
        }
        break;
      case frame::Type::Data:
      case frame::Type::Rehandshake:
      case frame::Type::ResumeDone:
        break;
    }
    in = in.subspan(used);
  }
  return 0;
}

// The relay-side multiplexer fed arbitrary decrypted frames (what an authenticated but hostile agent
// can send): no crash, and output and memory stay within the configured bounds.
#include <cstdint>
#include <vector>

#include "common/link/mux.hpp"
#include "tests/fuzz/fuzz_assert.hpp"

using namespace ferry;

namespace {

struct Events : link::LinkEvents {
  link::Mux* mux = nullptr;
  int calls = 0;
  // Some OPENs stay pending (a dial under way), so early data and frames for pending streams are
  // exercised; the next OPEN answers them.
  std::vector<link::StreamId> pending;
  void on_open(link::StreamId id, const Target&) override {
    for (link::StreamId p : pending) mux->accept(p, frame::OpenCode::Ok);
    pending.clear();
    if (++calls % 4 == 0) return pending.push_back(id);
    mux->accept(id, (calls % 3) ? frame::OpenCode::Ok : frame::OpenCode::Denied, "rule");
  }
  void on_data(link::StreamId id, ByteSpan b) override {
    if (++calls % 2) mux->consumed(id, b.size(), link::Instant{calls});
    if (calls % 5 == 0) mux->send(id, b);
    if (calls % 7 == 0) mux->finish(id);
  }
  void on_fin(link::StreamId id) override { mux->finish(id); }
  void on_reset(link::StreamId, frame::ResetCode) override {}
  void on_closed(const Error&) override {}
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* p, std::size_t n) {
  Events ev;
  link::MuxLimits limits;
  limits.max_streams = 64;
  limits.initial_window = 4096;
  limits.max_window = 65536;
  limits.early_data = n % 2 == 1;  // half the inputs on a link that agreed on early data
  link::Mux mux(link::Mux::Side::Responder, limits, ev);
  ev.mux = &mux;
  ByteSpan in{p, n};
  while (!in.empty()) {
    std::size_t used = 0;
    auto f = frame::decode(in, used);
    if (!f) break;
    in = in.subspan(used);
    if (f->type == frame::Type::Ping || f->type == frame::Type::KeyUpdate ||
        f->type == frame::Type::Rehandshake || f->type == frame::Type::Close)
      continue;  // link-level frames never reach the mux
    if (!mux.on_frame(*f)) break;
    FERRY_FUZZ_ASSERT(mux.stream_count() <= limits.max_streams);
    Bytes out;
    mux.produce(out, 65519 - 8);
    FERRY_FUZZ_ASSERT(out.size() <= 65519 - 8);
  }
  mux.goaway("fuzz");
  mux.shutdown_all();
  FERRY_FUZZ_ASSERT(mux.stream_count() == 0);
  return 0;
}

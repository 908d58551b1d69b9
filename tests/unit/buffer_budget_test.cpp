// The relay's per-agent budget of buffered bytes (issue 16 item 10): the verdicts of BufferBudget,
// and a responder Mux that keeps its streams' credit and send queues within it.
#include "common/link/buffer_budget.hpp"

#include <catch2/catch.hpp>

#include "common/link/mux.hpp"
#include "tests/unit/link_harness.hpp"

using namespace ferry;
using link::BufferBudget;

namespace {

constexpr std::uint64_t kMiB = 1024 * 1024;
constexpr std::uint32_t kFull = 256 * 1024;

// Frames a mux produced, decoded: (type, stream, window carried by OPEN_RESULT or WINDOW).
struct Seen {
  frame::Type type;
  link::StreamId stream;
  std::uint32_t window;
};

std::vector<Seen> drain(link::Mux& mux) {
  Bytes out;
  mux.produce(out, 1 << 20);
  std::vector<Seen> seen;
  ByteSpan in = out;
  while (!in.empty()) {
    std::size_t used = 0;
    auto f = frame::decode(in, used);
    REQUIRE(f);
    std::uint32_t window = 0;
    if (f->type == frame::Type::OpenResult) window = frame::parse_open_result(f->payload)->window;
    if (f->type == frame::Type::Window) window = frame::parse_window(f->payload)->increment;
    seen.push_back({f->type, f->stream, window});
    in = in.subspan(used);
  }
  return seen;
}

// The agent's side of one OPEN, handed to the relay's mux.
void open(link::Mux& relay, link::StreamId id, std::uint32_t agent_window = kFull) {
  Bytes wire;
  frame::put_open(wire, id, frame::Open{agent_window, Target::host("bulk.example", 80)});
  std::size_t used = 0;
  auto f = frame::decode(wire, used);
  REQUIRE(f);
  REQUIRE(relay.on_frame(*f));
}

std::uint32_t accepted_window(link::Mux& relay, link::StreamId id) {
  open(relay, id);
  relay.accept(id, frame::OpenCode::Ok);
  for (const Seen& s : drain(relay))
    if (s.type == frame::Type::OpenResult && s.stream == id) return s.window;
  FAIL("no OPEN_RESULT for stream " << id);
  return 0;
}

}  // namespace

TEST_CASE("the budget's bands: full windows above half, small ones above an eighth, then none", "[budget]") {
  BufferBudget b(64 * kMiB);
  CHECK(b.open_window(kFull) == kFull);
  CHECK(b.growth_room() == 32 * kMiB);
  b.take(32 * kMiB - kFull);  // exactly half plus one full window left
  CHECK(b.open_window(kFull) == kFull);
  b.take(1);
  CHECK(b.open_window(kFull) == BufferBudget::kSmallWindow);
  CHECK(b.growth_room() == kFull - 1);
  b.take(kFull);  // under half: no growth
  CHECK(b.growth_room() == 0);
  CHECK(b.open_window(kFull) == BufferBudget::kSmallWindow);
  b.take(16 * kMiB - BufferBudget::kSmallWindow);  // a quarter left: small windows still
  CHECK(b.open_window(kFull) == BufferBudget::kSmallWindow);
  b.take(8 * kMiB);  // under an eighth (plus a small window)
  CHECK(b.open_window(kFull) == 0);
  CHECK_FALSE(b.tight());
  b.take(4 * kMiB + BufferBudget::kSmallWindow);
  CHECK(b.tight());  // under a sixteenth: small reads
  CHECK_FALSE(b.spent());
  b.take(16 * kMiB);
  CHECK(b.spent());
  CHECK(b.available() == 0);
  b.give(b.used());
  CHECK(b.open_window(kFull) == kFull);
  b.set_limit(8 * kMiB);  // a reload applies to budgets in use
  CHECK(b.growth_room() == 4 * kMiB);
}

TEST_CASE("streams past the budget's half get small windows, past its eighth none until bytes come back",
          "[budget][mux]") {
  test::Recorder ev;
  ev.auto_accept = false;
  auto budget = std::make_shared<BufferBudget>(4 * kMiB);
  {
    link::Mux relay(link::Mux::Side::Responder, link::MuxLimits{}, ev);
    relay.set_budget(budget);
    std::vector<std::uint32_t> windows;
    link::StreamId id = 1;
    for (; id < 2 * 200; id += 2) windows.push_back(accepted_window(relay, id));
    // 4 MiB: full windows while 2 MiB + 256 KiB are left (8 streams), then 2 KiB ones down to 512 KiB
    // (768 streams would fit; 192 asked), and the budget never holds more than its limit.
    CHECK(std::count(windows.begin(), windows.end(), kFull) == 8);
    CHECK(std::count(windows.begin(), windows.end(), BufferBudget::kSmallWindow) == 192);
    CHECK(budget->used() == 8 * kFull + 192 * BufferBudget::kSmallWindow);

    // Past the eighth: accepted (the target is connected) but with no credit yet.
    budget->take(2 * kMiB);  // another link of the agent
    CHECK(accepted_window(relay, id) == 0);
    CHECK(relay.starved_streams() == 1);
    CHECK(relay.stats().streams_starved == 1);
    relay.poll_budget();
    CHECK(drain(relay).empty());  // still no room: nothing granted

    // The other link gives its bytes back: the next poll grants the waiting stream its window.
    budget->give(2 * kMiB);
    relay.poll_budget();
    auto seen = drain(relay);
    REQUIRE(seen.size() == 1);
    CHECK(seen[0].type == frame::Type::Window);
    CHECK(seen[0].stream == id);
    CHECK(seen[0].window == BufferBudget::kSmallWindow);
    CHECK(relay.recv_window(id) == BufferBudget::kSmallWindow);
    CHECK(relay.starved_streams() == 0);
  }
  CHECK(budget->used() == 0);  // the link's end gives everything back
}

TEST_CASE("a stream's window grows only while the budget is above half", "[budget][mux]") {
  test::Recorder ev;
  ev.auto_accept = false;
  auto budget = std::make_shared<BufferBudget>(4 * kMiB);
  link::Mux relay(link::Mux::Side::Responder, link::MuxLimits{}, ev);
  relay.set_budget(budget);
  REQUIRE(accepted_window(relay, 1) == kFull);
  // Half a window consumed at once (within two round trips): the window doubles.
  Bytes data;
  frame::put_header(data, frame::Type::Data, 0, 1, kFull / 2);
  data.resize(data.size() + kFull / 2, 'u');
  std::size_t used = 0;
  auto f = frame::decode(data, used);
  REQUIRE(f);
  REQUIRE(relay.on_frame(*f));
  relay.consumed(1, kFull / 2, link::Instant{0});
  CHECK(relay.recv_window(1) == 2 * kFull);
  CHECK(budget->used() == 2 * kFull);
  drain(relay);
  // Another link takes the budget under half: consumed bytes are granted back, the window stays.
  budget->take(2 * kMiB);
  frame::put_header(data = {}, frame::Type::Data, 0, 1, kFull);
  data.resize(data.size() + kFull, 'u');
  f = frame::decode(data, used);
  REQUIRE(relay.on_frame(*f));
  relay.consumed(1, kFull, link::Instant{0});
  CHECK(relay.recv_window(1) == 2 * kFull);
  auto seen = drain(relay);
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].window == kFull);  // what was consumed, no growth
  budget->give(2 * kMiB);
}

TEST_CASE("send queues stop the reader at the budget's end and resume it when bytes come back",
          "[budget][mux]") {
  test::Recorder ev;
  ev.auto_accept = false;
  auto budget = std::make_shared<BufferBudget>(4 * kMiB);
  link::Mux relay(link::Mux::Side::Responder, link::MuxLimits{}, ev);
  relay.set_budget(budget);
  // The agent grants no credit (a client that does not read): queued bytes stay.
  open(relay, 1, 0);
  relay.accept(1, frame::OpenCode::Ok);
  open(relay, 3, 0);
  relay.accept(3, frame::OpenCode::Ok);
  drain(relay);
  const Bytes piece(64 * 1024, 'd');
  CHECK(relay.send(1, piece));  // below the high watermark, well within the budget
  CHECK_FALSE(relay.budget_tight());
  budget->take(budget->available() - 100 * 1024);  // another link leaves 100 KiB
  CHECK(relay.budget_tight());
  // Tight: a stream with bytes queued reads no more; one with an empty queue may read a small piece
  CHECK_FALSE(relay.send(1, Bytes(10, 'd')));
  // (SocketPipe reads at most Chunk::kSmallMax then), and stops after it.
  CHECK_FALSE(relay.send(3, Bytes(link::Chunk::kSmallMax, 'd')));
  CHECK(relay.queued(3) == link::Chunk::kSmallMax);
  budget->take(budget->available());
  CHECK(budget->spent());
  // Bytes come back (the other link ends): the next poll resumes both readers.
  ev.writable.clear();
  budget->give(3 * kMiB);
  relay.poll_budget();
  std::sort(ev.writable.begin(), ev.writable.end());
  CHECK(ev.writable == std::vector<link::StreamId>{1, 3});
  // The streams' windows and every chunk of their queues were counted, and their end gives them back.
  const std::uint64_t before = budget->used();
  relay.reset(1, frame::ResetCode::Cancel);
  relay.reset(3, frame::ResetCode::Cancel);
  CHECK(before - budget->used() >= 2 * kFull + 64 * 1024 + link::Chunk::kSmallMax + 10);
}

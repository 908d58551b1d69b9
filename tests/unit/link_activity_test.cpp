// Which links of a loop count as active (common/uv/link_activity.hpp): what decides whether a
// reader takes short turns.
#include "common/uv/link_activity.hpp"

#include <catch2/catch.hpp>

#include "common/uv/loop.hpp"

namespace activity = ferry::uv::link_activity;

TEST_CASE("link activity: a link alone is never crowded; another active link crowds it for a while",
          "[pool]") {
  int a = 0, b = 0, c = 0;  // any distinct addresses name links
  ferry::uv::Loop loop;     // a fresh loop knows no links: each has its own context
  activity::note(loop.get(), &a, 10'000);
  CHECK_FALSE(activity::crowded(loop.get(), &a, 10'000));
  CHECK(activity::crowded(loop.get(), &b, 10'000));  // from b's point of view, a is busy
  activity::note(loop.get(), &b, 10'100);
  CHECK(activity::crowded(loop.get(), &a, 10'100));
  CHECK(activity::crowded(loop.get(), &b, 10'100));
  // b falls quiet: a takes large batches again once the window has passed.
  activity::note(loop.get(), &a, 10'900);
  CHECK(activity::crowded(loop.get(), &a, 10'100 + activity::kWindowMs - 1));
  CHECK_FALSE(activity::crowded(loop.get(), &a, 10'100 + activity::kWindowMs));
  // A third link pushes out the oldest: a and c are the two remembered.
  activity::note(loop.get(), &c, 12'000);
  activity::note(loop.get(), &a, 12'001);
  CHECK(activity::crowded(loop.get(), &a, 12'002));
  CHECK(activity::crowded(loop.get(), &c, 12'002));
  // A link that goes away stops counting (its address may name a new link next).
  activity::forget(loop.get(), &c);
  CHECK_FALSE(activity::crowded(loop.get(), &a, 12'003));
  activity::forget(loop.get(), &a);
  CHECK_FALSE(activity::crowded(loop.get(), &b, 12'003));
}

TEST_CASE("read turn: a full buffer ends the turn once; only that UV_ENOBUFS is not an error", "[pool]") {
  activity::ReadTurn turn;
  uv_buf_t buf = uv_buf_init(reinterpret_cast<char*>(&turn), 1);
  CHECK_FALSE(turn.end(&buf));  // no full read yet: the buffer stays as alloc_cb set it
  CHECK(buf.len == 1);
  CHECK_FALSE(turn.ended(UV_ENOBUFS));  // a real ENOBUFS (a stream that is gone) stays an error
  turn.full();
  CHECK(turn.end(&buf));
  CHECK((buf.base == nullptr && buf.len == 0));
  CHECK_FALSE(turn.ended(UV_EOF));  // other results pass through
  CHECK(turn.ended(UV_ENOBUFS));    // the one end() caused
  CHECK_FALSE(turn.ended(UV_ENOBUFS));
  buf = uv_buf_init(reinterpret_cast<char*>(&turn), 1);
  CHECK_FALSE(turn.end(&buf));  // the next event reads again
}

TEST_CASE("link activity: a heavy link crowds no one; a light one does, whatever the other moves", "[pool]") {
  int download = 0, second_download = 0, keystrokes = 0;
  ferry::uv::Loop loop;
  // Two downloads on one thread: neither makes the other take short turns.
  activity::note(loop.get(), &download, 20'000, true);
  activity::note(loop.get(), &second_download, 20'001, true);
  CHECK_FALSE(activity::crowded(loop.get(), &download, 20'002));
  CHECK_FALSE(activity::crowded(loop.get(), &second_download, 20'002));
  // An interactive link joins: both downloads take turns while it is active; it does not.
  activity::note(loop.get(), &keystrokes, 20'003, false);
  CHECK(activity::crowded(loop.get(), &download, 20'004));
  CHECK(activity::crowded(loop.get(), &second_download, 20'004));
  CHECK_FALSE(activity::crowded(loop.get(), &keystrokes, 20'004));
  // A light link that turns heavy (a download started on it) stops crowding at once.
  activity::note(loop.get(), &keystrokes, 20'005, true);
  CHECK_FALSE(activity::crowded(loop.get(), &download, 20'006));
}

TEST_CASE("moved bytes: heavy from kHeavyBytes within a window, light again after a quiet window", "[pool]") {
  activity::MovedBytes m;
  const std::uint64_t t = 50'000;
  m.add(activity::kHeavyBytes - 1, t);
  CHECK_FALSE(m.heavy(t));  // an interactive session's worth
  m.add(1, t + 10);
  CHECK(m.heavy(t + 10));
  // The next window: still heavy from the last one, though nothing moved yet.
  CHECK(m.heavy(t + activity::kWindowMs));
  m.add(10, t + activity::kWindowMs + 1);
  CHECK(m.heavy(t + 2 * activity::kWindowMs - 1));
  // A window later with little moved: light.
  CHECK_FALSE(m.heavy(t + 2 * activity::kWindowMs));
  // Heavy again, then a long silence: light, with no memory of it.
  m.add(activity::kHeavyBytes, t + 5 * activity::kWindowMs);
  CHECK(m.heavy(t + 5 * activity::kWindowMs));
  CHECK_FALSE(m.heavy(t + 8 * activity::kWindowMs));
}

// Which links of this thread's loop moved bytes lately. Reading and writing in large batches saves
// CPU (fewer syscalls, fewer loop iterations), but while one batch is being read, decrypted and
// written, every other socket of the loop waits: a download on one link of the agent's pool (or on
// one link of a relay worker) would hold up a keystroke on another. So while another link of the
// same thread is active, readers take short turns: a link reads one kTurnBytes buffer per event
// instead of one 256 KiB buffer, and a socket one kTurnBytes read instead of up to 32 whole chunks.
// Alone, a reader takes large batches (docs/performance.md, "A pool of links").
//
// Only light links crowd the others: turns shorten the wait of small exchanges, but between two
// downloads they only cost CPU (docs/decisions/0019-only-light-links-crowd.md). A link with one stream that
// moved kHeavyBytes within a window is heavy (MovedBytes): a download, and its activity makes no one take
// turns. With more streams, one of them may be a keystroke, so the link stays light.
#pragma once

#include <uv.h>

#include <array>
#include <cstddef>
#include <cstdint>

namespace ferry::uv::link_activity {

// A reader's turn while another link of its thread is active: one read of at most this much per
// event. 32 KiB measured best between an echo's latency beside a download and the download's rate
// (docs/decisions/0017-short-read-turns.md). A link alone reads 256 KiB.
inline constexpr std::size_t kTurnBytes = 32 * 1024;

// One reader's turn, the same for link and socket reads. After a read that filled its buffer
// (full()), the next alloc_cb ends the turn with an empty buffer (end()): libuv then stops its read
// loop with UV_ENOBUFS, no syscall, and the socket, still readable, comes back from the next poll.
// ended() tells that UV_ENOBUFS from a real one, which is still an error.
class ReadTurn {
 public:
  void full() noexcept { state_ = State::Full; }
  // In alloc_cb: true when the turn is over and `buf` has been made empty.
  bool end(uv_buf_t* buf) noexcept {
    if (state_ != State::Full) return false;
    state_ = State::Ended;
    *buf = uv_buf_init(nullptr, 0);
    return true;
  }
  // In read_cb: true for the UV_ENOBUFS that end() caused.
  bool ended(ssize_t nread) noexcept {
    if (nread != UV_ENOBUFS || state_ != State::Ended) return false;
    state_ = State::Open;
    return true;
  }

 private:
  enum class State : std::uint8_t { Open, Full, Ended };
  State state_ = State::Open;
};

// Another link counts as active for this long after it last moved a byte: long enough to cover the
// pauses of an interactive session, short enough that a finished exchange soon stops counting.
inline constexpr std::uint64_t kWindowMs = 1000;

// A link moving this much within one window is heavy: far above interactive traffic (keystrokes, an
// API call), and about a millisecond of a loopback download.
inline constexpr std::size_t kHeavyBytes = 1 << 20;

// What one link moved in the current window and the one before (windows of kWindowMs on uv_now's
// clock), to tell heavy from light: heavy lasts until the end of the window after the heavy one.
class MovedBytes {
 public:
  void add(std::size_t bytes, std::uint64_t now_ms) noexcept {
    roll(now_ms);
    current_ += bytes;
  }
  // Whether the link moved kHeavyBytes within the current window or the last one.
  bool heavy(std::uint64_t now_ms) noexcept {
    roll(now_ms);
    return current_ >= kHeavyBytes || last_ >= kHeavyBytes;
  }

 private:
  void roll(std::uint64_t now_ms) noexcept {
    const std::uint64_t window = now_ms / kWindowMs;
    if (window == window_) return;
    last_ = window == window_ + 1 ? current_ : 0;  // a quiet window in between: nothing
    current_ = 0;
    window_ = window;
  }
  std::uint64_t window_ = 0;
  std::size_t current_ = 0;
  std::size_t last_ = 0;
};

// The two light links of a loop that moved bytes most recently, newest first: enough to answer "is
// anyone else busy?" for any link, with no table to grow or clean. Kept in the loop's context.
struct Recent {
  const void* link = nullptr;
  std::uint64_t at_ms = 0;
};
using RecentLinks = std::array<Recent, 2>;

// `link` (any stable address that names one link; its mux) moved bytes at `now_ms` (uv_now) on
// `loop`. A heavy link is forgotten instead: it crowds no one.
void note(uv_loop_t* loop, const void* link, std::uint64_t now_ms, bool heavy = false) noexcept;
// Whether a light link of `loop` other than `link` moved bytes within kWindowMs before `now_ms`.
bool crowded(uv_loop_t* loop, const void* link, std::uint64_t now_ms) noexcept;
// `link` is going away, or has no streams left: it no longer counts (its address may be reused).
void forget(uv_loop_t* loop, const void* link) noexcept;

}  // namespace ferry::uv::link_activity

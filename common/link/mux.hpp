// The stream multiplexer: a table of streams over one link, each with credit-based flow control in
// both directions, and a round-robin scheduler that turns queued bytes into bounded DATA frames.
//
// Flow control (docs/protocol.md "Credit"): a receiver grants credit in bytes; a sender never sends
// more than it was granted. Credit comes back as the receiver's owner reports bytes consumed (written
// to the local socket), so a slow reader stalls only its own stream. The window starts at
// `initial_window` and doubles, up to `max_window`, whenever half of it was consumed within about two
// round trips: the window then limits throughput, so it grows toward the bandwidth-delay product.
// Growth beyond the initial window is drawn from a per-link budget, which bounds the link's memory.
// It also stops at `window_per_rtt_ms` per millisecond of the path's minimum RTT: a PING answered
// under load measures the bulk stream's own queue, so a window sized from it keeps growing into that
// queue, and every other stream on the link waits behind it (docs/performance.md "Head-of-line").
// The minimum comes from the kernel (TCP_INFO's min_rtt, in µs, over its last five minutes of ACKs,
// which our queues do not delay) where the I/O layer provides it, else from the PINGs.
//
// Sans-I/O: no sockets and no clock; the session passes `now` in and pulls frames out with produce().
#pragma once

#include <array>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/codec/link_frame.hpp"
#include "common/link/buffer_budget.hpp"
#include "common/link/chunk_queue.hpp"
#include "common/link/clock.hpp"
#include "common/link/control_queue.hpp"
#include "common/link/link_events.hpp"
#include "common/link/stream_handler.hpp"
#include "common/link/stream_link.hpp"

namespace ferry::link {

// Early data (docs/protocol.md 4.4): on a link that agreed on it, the initiator may send this many
// bytes of a stream before its OPEN_RESULT (a TLS ClientHello, an HTTP request head), and the
// responder holds them while it dials. The OPEN_RESULT's window counts from the stream's first byte,
// early data included (at least kEarlyDataBytes in all).
inline constexpr std::uint32_t kEarlyDataBytes = 16 * 1024;

// Stream ids are 31-bit on both sides (docs/protocol.md 4.12): the agent moves to a fresh link before
// it runs out, and the relay refuses an OPEN above it.
inline constexpr StreamId kMaxStreamId = 0x7FFFFFFF;

struct MuxLimits {
  std::uint32_t initial_window = 256 * 1024;
  // 16 MiB fills a 100 ms path at 1.3 Gbit/s.
  std::uint32_t max_window = 16 * 1024 * 1024;
  // A stream's window is at most this per millisecond of the minimum RTT (at least this): 8 Gbit/s
  // per stream on any path, and on loopback or a LAN, where the RTT is far below 1 ms, a bulk
  // stream's queue ahead of other streams stays near 1 ms.
  std::uint32_t window_per_rtt_ms = 1024 * 1024;
  // Credit granted beyond initial windows, summed over the link's streams.
  std::uint64_t link_growth_budget = 64ull * 1024 * 1024;
  std::size_t max_streams = 4096;
  // 16 KiB frames: at 100 Mbit/s one frame takes 1.3 ms on the wire, so an interactive stream waits
  // at most a few of them behind a bulk stream.
  std::size_t max_frame_data = 16 * 1024;
  // Per-stream send queue watermarks: above high, send() asks the owner to stop reading its socket.
  std::size_t send_high_water = 256 * 1024;
  std::size_t send_low_water = 64 * 1024;
  // Control frames (window updates, pongs, results) waiting for the peer to read; past this the peer
  // is not reading and the link is closed.
  std::size_t max_control_bytes = 1024 * 1024;
  // Free 64 KiB send chunks a link keeps for reuse (4 MiB).
  std::size_t pooled_chunks = 64;
  // The initiator's first stream id (odd). Only tests start elsewhere, to reach the end of the ids.
  StreamId first_stream_id = 1;
  // Streams survive a lost link (docs/protocol.md "Stream resumption"): sent bytes are kept until the
  // peer acknowledges them, and RESUME frames restart every stream on the next link.
  bool resumable = false;
  // DATA may precede OPEN_RESULT, up to kEarlyDataBytes per stream (the handshake agreed on it).
  bool early_data = false;
};

struct MuxStats {
  std::uint64_t bytes_sent = 0;  // stream payload, both counted before encryption
  std::uint64_t bytes_received = 0;
  std::uint64_t streams_opened = 0;
  std::uint64_t streams_starved = 0;  // accepted with no credit: the agent's budget was in use
  std::uint64_t resumes = 0;          // lost links this mux's streams lived through
  std::uint64_t resent_bytes = 0;     // stream bytes sent again after a resume
};

// A mux is the StreamLink of its own streams (generation 0): the relay's links and tests name streams
// with StreamRef{mux, 0, id}; the agent's links answer for the mux of a generation themselves.
class Mux final : public StreamLink {
 public:
  enum class Side { Initiator, Responder };  // the initiator opens streams with odd ids

  // `wake` runs whenever a call from outside the link's own callbacks may have produced output (a
  // new OPEN, queued bytes, a window update), so the I/O layer knows to flush.
  Mux(Side side, MuxLimits limits, LinkEvents& events, std::function<void()> wake = {});
  ~Mux();
  Mux(const Mux&) = delete;
  Mux& operator=(const Mux&) = delete;

  // Relay: the agent's budget of buffered bytes, shared by its links (buffer_budget.hpp). Set once
  // the agent is known, before its first stream; without one, only the per-link bounds apply.
  void set_budget(std::shared_ptr<BufferBudget> budget);
  // The budget is nearly spent: a reader should read small pieces (at most Chunk::kSmallMax).
  bool budget_tight() const noexcept { return budget_ && budget_->tight(); }
  // Called periodically (the link's tick): another link of the same agent may have given bytes
  // back, so credit-starved streams get their window and readers paused by the budget resume.
  void poll_budget();

  // Initiator: asks the peer to dial `target`. Bytes may be queued with send() at once; they leave
  // when the OPEN_RESULT grants credit. Fails when the peer sent GOAWAY or a limit is reached.
  Result<StreamId> open(const Target& target);
  // Responder: answers an on_open(). A non-Ok code ends the stream; `reason` is shown to the user.
  void accept(StreamId id, frame::OpenCode code, std::string_view reason = {});
  // Queues bytes (copied). Returns false when the queue is above the high watermark: the owner
  // should stop reading its source until on_writable().
  bool send(StreamId id, ByteSpan bytes);
  // Zero-copy variant of send(): space at the tail of the stream's queue (up to 64 KiB; empty for an
  // unknown or finished stream) that a reader fills directly, then commit_send() with the byte count.
  // The space is valid until the next call into the mux.
  MutByteSpan send_space(StreamId id);
  bool commit_send(StreamId id, std::size_t n);
  // The stream's events go to `handler` (nullptr: to the link's LinkEvents) until the stream ends;
  // an unknown id is ignored. The handler must outlive its binding: rebind or reset before it goes.
  void bind(StreamId id, StreamHandler* handler);
  Mux* mux_of(std::uint64_t) noexcept override { return this; }
  // Half-close: a FIN follows the queued bytes.
  void finish(StreamId id);
  // Aborts the stream both ways; the owner gets no on_reset for a reset it asked for.
  void reset(StreamId id, frame::ResetCode code);
  // The owner has written `n` received bytes onward: credit for the peer.
  void consumed(StreamId id, std::size_t n, Instant now);
  // No more streams will be accepted (responder) or opened (either side).
  void goaway(std::string_view reason);

  // Link plumbing.
  Result<void> on_frame(const frame::Frame& f);
  bool has_output() const noexcept { return !control_.empty() || !ready_.empty(); }
  // Appends whole frames, at most `budget` bytes, control frames first, then one DATA frame per
  // ready stream in turn.
  void produce(Bytes& out, std::size_t budget);
  // A PING's RTT: the latest paces window growth; without the kernel's figure, the minimum of the
  // last kRttSamples (a minute of keepalives, rounded up to whole ms) sets the window cap.
  void set_rtt(Millis rtt) noexcept;
  // The kernel's minimum RTT of the link's socket, which takes over the window cap from the PINGs.
  void set_path_min_rtt(std::chrono::microseconds rtt) noexcept { path_min_rtt_ = rtt; }
  // The largest window a stream may grow to now.
  std::uint64_t window_cap() const noexcept;
  // The link is gone: every stream gets on_reset(Shutdown) and the table empties.
  void shutdown_all();

  // Resumable: the link was lost, and the streams wait for the next one. Queued control frames are
  // dropped (the RESUME exchange rebuilds what they said); no stream sends until the peer's RESUME
  // for it says where to start.
  void suspend();
  bool suspended() const noexcept { return suspended_; }
  // Resumable, on the next link: queues a RESUME for every stream, then RESUME_DONE.
  void resume();
  // Resumable, while the peer is quiet: WINDOWs that tell it what arrived, so it frees what it kept
  // for resending (an idle stream keeps nothing). Called from the link's tick.
  void acknowledge();
  // The handshake agreed on resumption (wire version 2): from now on sent bytes are kept until
  // acknowledged. Before the first stream only.
  void set_resumable() noexcept {
    if (streams_.empty()) limits_.resumable = true;
  }
  bool resumable() const noexcept { return limits_.resumable; }
  // The handshake agreed on early data: every stream opened from now on may carry kEarlyDataBytes
  // before its OPEN_RESULT. Before the first stream only.
  void set_early_data() noexcept {
    if (streams_.empty()) limits_.early_data = true;
  }
  bool early_data() const noexcept { return limits_.early_data; }
  // A suspended mux moves to the link that resumes it: its wake is that link's from now on.
  void set_wake(std::function<void()> wake) { wake_ = std::move(wake); }
  // Returns pooled send chunks to the heap (an idle link keeps nothing it does not need).
  void trim();

  std::size_t stream_count() const noexcept { return streams_.size(); }
  // Initiator: how many more streams this link can open before its ids run out.
  std::uint64_t ids_left() const noexcept {
    return next_id_ > kMaxStreamId ? 0 : (std::uint64_t{kMaxStreamId} - next_id_) / 2 + 1;
  }
  std::size_t queued(StreamId id) const;
  std::uint32_t recv_window(StreamId id) const;
  // Streams the budget keeps waiting: accepted with no credit yet, or paused reading.
  std::size_t starved_streams() const noexcept { return starved_.size(); }
  // Bytes kept for resending, over every stream.
  std::size_t retained_bytes() const noexcept;
  const MuxStats& stats() const noexcept { return stats_; }
  bool draining() const noexcept { return goaway_sent_ || goaway_received_; }
  std::size_t control_bytes() const noexcept { return control_.size(); }

 private:
  struct Stream {
    bool opened = false;      // the open handshake finished with Ok
    bool early = false;       // opened on an early-data link: DATA may go before OPEN_RESULT
    bool fin_queued = false;  // finish() was called
    bool fin_sent = false;
    bool fin_received = false;
    bool blocked = false;              // send() returned false at the high watermark; on_writable() pending
    bool budget_blocked = false;       // send() returned false for the agent's budget; in budget_blocked_
    bool in_ready = false;             // its id is in ready_
    StreamHandler* handler = nullptr;  // where its events go (else events_)
    std::uint64_t send_credit = 0;
    ChunkQueue sendq;
    std::uint32_t recv_window = 0;
    std::uint64_t recv_allowed = 0;  // bytes the peer may still send
    std::uint64_t unacked = 0;       // consumed, not yet granted back
    std::uint64_t delivered = 0;     // cumulative consumed
    // Resumable streams: offsets in this stream's bytes each way.
    std::uint64_t sent = 0;      // sent in DATA frames (since the last rewind, from the peer's received)
    std::uint64_t acked = 0;     // the peer's delivered: kept bytes below it are freed
    std::uint64_t received = 0;  // arrived in DATA frames
    std::uint64_t reported = 0;  // the delivered offset last sent in a WINDOW
    bool fin_acked = false;      // the peer's WINDOW said our FIN arrived
    bool fin_reported = false;   // a WINDOW told the peer its FIN arrived
    bool resume_seen = false;    // the peer's RESUME for it came on this link
    Instant last_grant{0};
    std::uint64_t charged = 0;  // what this stream holds in the budget: its window and queue chunks
    std::size_t queued() const noexcept { return sendq.size(); }
  };

  Stream* find(StreamId id);
  const Stream* find(StreamId id) const;
  static std::uint64_t stream_credit(const Stream& s, std::uint32_t window, std::uint64_t so_far) noexcept;
  bool is_ready(const Stream& s) const noexcept;
  void schedule(StreamId id, Stream& s);
  void erase(StreamId id);
  void erase_if_done(StreamId id, Stream& s);
  bool used_id(StreamId id) const noexcept;
  // Brings the stream's share of the budget up to date (its window and its queue's chunks).
  void recharge(Stream& s);
  // Whether a stream may read more into its queue now, as far as the budget goes.
  bool budget_allows_reading(const Stream& s) const noexcept;
  void grant_starved();
  void resume_budget_blocked();
  void notify_writable();
  // A stream's events, to its handler or else to events_. A reset of a stream this side opened and
  // the peer never answered is reported as that answer: a failure.
  void report_open_result(StreamId id, StreamHandler* h, const frame::OpenResult& r);
  void report_reset(StreamId id, StreamHandler* h, bool answered, frame::ResetCode code);

  Result<void> on_open_frame(const frame::Frame& f);
  Result<void> on_open_result_frame(const frame::Frame& f);
  Result<void> on_data_frame(const frame::Frame& f);
  Result<void> on_window_frame(const frame::Frame& f);
  Result<void> on_reset_frame(const frame::Frame& f);
  Result<void> on_resume_frame(const frame::Frame& f);
  Result<void> on_resume_done_frame();
  // Resumable: both FINs crossed, every byte acknowledged both ways, and the peer told so.
  bool ended_cleanly(const Stream& s) const noexcept;
  void queue_window(StreamId id, Stream& s, std::uint32_t increment);

  void wake() const {
    if (wake_) wake_();
  }

  Side side_;
  MuxLimits limits_;
  std::function<void()> wake_;
  LinkEvents& events_;
  ChunkPool pool_;  // send chunks shared by the streams of this link
  std::unordered_map<StreamId, std::unique_ptr<Stream>> streams_;
  std::deque<StreamId> ready_;
  ControlQueue control_;
  std::vector<StreamId> writable_;  // on_writable() calls deferred until produce() finishes
  bool notifying_ = false;          // produce() is making those calls
  StreamId next_id_;
  StreamId highest_peer_id_ = 0;
  std::uint64_t growth_used_ = 0;
  std::shared_ptr<BufferBudget> budget_;
  std::deque<StreamId> starved_;  // accepted with a window of 0, in order
  // Resumable initiator: the targets of streams the peer has not answered, whose OPEN a lost link
  // may have taken with it.
  std::unordered_map<StreamId, Target> unanswered_;
  std::vector<StreamId> budget_blocked_;  // may hold ids since woken or erased (flag checked)
  static constexpr std::size_t kRttSamples = 4;
  Millis rtt_{0};  // the latest PING sample
  std::array<Millis, kRttSamples> recent_rtt_{};
  std::size_t rtt_samples_ = 0;
  std::optional<std::chrono::microseconds> path_min_rtt_;
  bool goaway_sent_ = false;
  bool goaway_received_ = false;
  bool suspended_ = false;  // resumable: a link was lost; RESUMEs not yet exchanged on the next

  MuxStats stats_;
};

}  // namespace ferry::link

// Moves bytes both ways between one TCP connection and one link stream, with backpressure each way:
//
//   socket --read straight into the stream's send queue (Mux::send_space)--> stream
//            (small messages: read into a shared buffer, queued in a chunk of their own size)
//            paused when the queue is above its high watermark, resumed on writable
//   stream --on_data-------> gathered until the link's read batch ends (read_batch.hpp), then one
//            writev (uv_try_write) straight from the link's buffer --> Mux::consumed (credit back);
//            what the kernel does not take is copied once and queued, and its credit goes back
//            once written, so at most one window of bytes waits for a slow socket
//
// Half-closes pass through: the socket's EOF becomes the stream's FIN, the stream's FIN becomes
// shutdown(SHUT_WR) once every byte before it is written. The agent pipes a client's socket; the
// relay pipes the target's. attach() binds the pipe to its stream (StreamHandler), so the stream's
// bytes come to it straight from the mux; start() makes it the connection's reader.
//
// The socket itself, its timers and its close are the TcpConnection's (tcp_connection.hpp), which
// must outlive the pipe; the agent's front ends use it raw before a pipe takes over.
#pragma once

#include <uv.h>

#include <functional>
#include <vector>

#include "common/link/stream_ref.hpp"
#include "common/uv/link_activity.hpp"
#include "common/uv/tcp_connection.hpp"

namespace ferry::uv {

class SocketPipe final : public link::StreamHandler, private SocketReader {
 public:
  struct Counters {
    std::uint64_t to_link = 0;    // bytes read from the socket
    std::uint64_t from_link = 0;  // bytes written to the socket
  };
  // A socket still being given a finished stream's bytes, but taking none for this long, is closed:
  // its reader is not coming back for them.
  static constexpr std::uint64_t kDrainIdleMs = 30'000;
  // Entries the gather list keeps between link reads: a batch of a few dozen DATA frames allocates
  // nothing, and one of thousands of tiny frames does not pin its list (16 bytes each) for the
  // pipe's life.
  static constexpr std::size_t kKeptGatherEntries = 64;

  explicit SocketPipe(TcpConnection& conn);
  SocketPipe(TcpConnection& conn, link::StreamRef stream);
  ~SocketPipe();
  SocketPipe(const SocketPipe&) = delete;
  SocketPipe& operator=(const SocketPipe&) = delete;

  // Takes the stream and binds its events here; `early` are bytes the client sent after its request,
  // for the stream. A connection already ending resets the stream instead.
  void attach(link::StreamRef stream, ByteSpan early = {});
  // Starts reading the socket into the stream (connect or accept first). Bytes may arrive from the
  // link before this; they are written at once.
  void start();
  // Resets the stream (if still open) and aborts the connection; with `rst` the socket sends RST.
  void abort(frame::ResetCode code, bool rst = false);
  // Bytes of the stream that arrived before the pipe existed (the relay holds the agent's early data
  // while it dials): written after anything queued, and consumed (credit back) once written.
  void write_held(Bytes bytes);
  // The agent answered its client before the relay did (early reply): the relay's answer then comes
  // here. A refusal has ended the stream already; `answer` decides what the client sees. Unset, a
  // refusal aborts the connection.
  using AnswerFn = std::function<void(const frame::OpenResult&)>;
  void on_answer(AnswerFn answer) { answer_ = std::move(answer); }

  // The stream's events (StreamHandler).
  void on_open_result(const frame::OpenResult& result) override;
  void on_data(ByteSpan bytes) override;
  void on_fin() override;
  // The stream is gone (peer reset or link closed). The socket is reset too, unless the stream's
  // FIN had arrived: then every byte for it is here, and it gets them all and an orderly end.
  void on_reset(frame::ResetCode code) override;
  void on_writable() override;

  link::StreamId id() const noexcept { return stream_.id(); }
  const Counters& counters() const noexcept { return counters_; }
  // What the gather list holds on to between link reads (at most kKeptGatherEntries).
  std::size_t gathered_capacity() const noexcept { return gathered_.capacity(); }

 private:
  // SocketReader: the connection's reads while piping, and its close.
  void on_alloc(uv_buf_t* buf) noexcept override;
  void on_read(ssize_t nread, const uv_buf_t* buf) noexcept override;
  void on_closing(std::optional<frame::ResetCode> aborted) noexcept override;

  static void flush_gathered(void* self) noexcept;
  void write_rest(Bytes rest);
  void maybe_shutdown();
  void limit_drain_if_ended();
  link::Instant now() const noexcept;

  TcpConnection& conn_;
  uv_loop_t* loop_;
  // Dropped once the stream is gone (reset, both FINs crossed, or the connection closing): never
  // touched again then.
  link::StreamRef stream_;
  link_activity::ReadTurn read_turn_;
  Counters counters_;
  // DATA this read batch delivered: spans into the link's read buffer, written by flush_gathered().
  std::vector<uv_buf_t> gathered_;
  std::size_t gathered_bytes_ = 0;
  // The last read was a small message: read the next into a shared buffer and queue only its bytes,
  // not a whole 64 KiB chunk (10,000 held connections answering at once). Bulk reads go in place.
  bool small_reads_ = true;
  bool read_into_small_ = false;  // the read under way goes to the loop's small-read buffer, not the queue
  bool started_ = false;
  bool fin_received_ = false;  // the stream's FIN arrived
  AnswerFn answer_;
};

}  // namespace ferry::uv

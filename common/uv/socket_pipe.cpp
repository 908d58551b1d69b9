#include "common/uv/socket_pipe.hpp"

#include <algorithm>
#include <string>

#include "common/log.hpp"
#include "common/uv/loop_context.hpp"
#include "common/uv/read_batch.hpp"

namespace ferry::uv {

SocketPipe::SocketPipe(TcpConnection& conn) : conn_(conn), loop_(conn.loop()) {}

SocketPipe::SocketPipe(TcpConnection& conn, link::StreamRef stream) : SocketPipe(conn) { attach(stream); }

SocketPipe::~SocketPipe() {
  if (!gathered_.empty()) read_batch::cancel(loop_, this);
}

link::Instant SocketPipe::now() const noexcept {
  return link::Instant(static_cast<std::int64_t>(uv_now(loop_)));
}

void SocketPipe::attach(link::StreamRef stream, ByteSpan early) {
  if (conn_.ending_asked()) {
    // The client went away while the relay answered: nobody will carry the stream.
    stream.reset(frame::ResetCode::Cancel);
    return;
  }
  stream_ = stream;
  stream_.bind(this);
  conn_.set_reader(*this);  // a close from now on resets or leaves the stream
  if (!early.empty()) {
    stream_.send(early);
    counters_.to_link += early.size();
  }
}

void SocketPipe::start() {
  if (conn_.ending_asked() || started_ || !stream_.attached()) return;
  started_ = true;
  conn_.read_into_reader();
}

void SocketPipe::abort(frame::ResetCode code, bool rst) {
  stream_.reset(code);
  conn_.abort(code, rst);
}

void SocketPipe::on_closing(std::optional<frame::ResetCode> aborted) noexcept {
  if (aborted)
    stream_.reset(*aborted);
  else
    stream_.leave();  // both ways ended, or a close after writes: the stream finishes on its own
}

namespace {
// Where a socket that sends small messages is read: its bytes are then copied into a chunk of their
// own size. One per loop; the read consumes it before anything else can read.
std::uint8_t* small_read_buffer(uv_loop_t* loop) {
  return context(loop).small_read_buffer(link::Chunk::kBytes);
}
}  // namespace

static_assert(link_activity::kTurnBytes <= link::Chunk::kBytes, "a turn fits the small-read buffer");

void SocketPipe::on_alloc(uv_buf_t* buf) noexcept {
  // While another link of this thread is active (link_activity.hpp), one short buffer per event:
  // after a full one, an empty buffer ends libuv's read loop (UV_ENOBUFS, no syscall) instead of up
  // to 32 more reads, so a relay worker that pipes a download serves its other links' streams in
  // between. The socket comes back from the next poll. Alone, the loop reads on in whole chunks:
  // larger link batches, less CPU.
  read_into_small_ = false;
  if (read_turn_.end(buf)) return;
  link::Mux* mux = stream_.mux();
  if (!mux) return void(*buf = uv_buf_init(nullptr, 0));  // the stream is gone: on_read aborts
  const std::size_t most =
      link_activity::crowded(loop_, mux, uv_now(loop_)) ? link_activity::kTurnBytes : link::Chunk::kBytes;
  if (mux->budget_tight()) {
    // The agent's budget is nearly spent: a small read gets a chunk of its own size, so the streams
    // reading at once overshoot the budget by little (Mux::budget_allows_reading).
    buf->base = reinterpret_cast<char*>(small_read_buffer(loop_));
    buf->len = link::Chunk::kSmallMax;
    read_into_small_ = true;
    return;
  }
  if (small_reads_ && mux->queued(stream_.id()) == 0) {
    buf->base = reinterpret_cast<char*>(small_read_buffer(loop_));
    buf->len = most;
    read_into_small_ = true;
    return;
  }
  // Bulk: the kernel copies straight into the stream's send queue, no copy of ours on this path.
  const MutByteSpan space = mux->send_space(stream_.id());
  buf->base = reinterpret_cast<char*>(space.data());
  buf->len = std::min(space.size(), most);
}

void SocketPipe::on_read(ssize_t nread, const uv_buf_t* buf) noexcept {
  link::Mux* mux = stream_.mux();
  if (!mux) return abort(frame::ResetCode::Cancel);
  if (read_turn_.ended(nread)) return;
  const link::StreamId id = stream_.id();
  const std::size_t n = nread > 0 ? static_cast<std::size_t>(nread) : 0;
  bool more = true;
  if (read_into_small_) {
    if (n > 0) more = mux->send(id, ByteSpan(reinterpret_cast<const std::uint8_t*>(buf->base), n));
  } else {
    more = mux->commit_send(id, n);  // commit(0) returns an unused chunk
  }
  if (n > 0) small_reads_ = n <= link::Chunk::kSmallMax;
  if (nread > 0) {
    counters_.to_link += n;
    conn_.touch();
    if (!more)
      conn_.stop_reading();  // until on_writable
    else if (n == buf->len && link_activity::crowded(loop_, mux, uv_now(loop_)))
      read_turn_.full();
    return;
  }
  if (nread == 0) return;  // EAGAIN: nothing this time
  conn_.stop_reading();
  if (log::enabled(log::Level::Debug))
    log::debug("pipe", "stream " + std::to_string(id) +
                           " socket read ended: " + uv_err_name(static_cast<int>(nread)));
  if (nread == UV_EOF && conn_.reset_by_peer()) {
    // Not an end but an abort: the stream is reset, so a download cut short never looks complete.
    if (log::enabled(log::Level::Debug))
      log::debug("pipe", "stream " + std::to_string(id) + " socket was reset (reported as EOF)");
    return abort(frame::ResetCode::TargetError);
  }
  if (nread != UV_EOF) return abort(frame::ResetCode::TargetError);  // ECONNRESET and friends (or ENOBUFS)
  mux->finish(id);                                                   // the half-close travels on as FIN
  conn_.mark_read_done();
  limit_drain_if_ended();
}

void SocketPipe::on_writable() { conn_.resume_reading(); }

void SocketPipe::on_data(ByteSpan bytes) {
  if (conn_.closing() || conn_.write_side() == TcpConnection::WriteSide::Done || bytes.empty()) return;
  conn_.touch();
  if (gathered_.empty()) read_batch::defer(loop_, this, flush_gathered);
  gathered_.push_back(uv_buf_init(const_cast<char*>(reinterpret_cast<const char*>(bytes.data())),
                                  static_cast<unsigned>(bytes.size())));
  gathered_bytes_ += bytes.size();
}

void SocketPipe::flush_gathered(void* who) noexcept {
  auto* self = static_cast<SocketPipe*>(who);
  const std::size_t total = std::exchange(self->gathered_bytes_, 0);
  // Emptied on every way out. A small capacity stays (no allocation per batch); a large one goes.
  struct Clear {
    std::vector<uv_buf_t>& v;
    ~Clear() {
      v.clear();
      if (v.capacity() > kKeptGatherEntries) std::vector<uv_buf_t>().swap(v);
    }
  } clear{self->gathered_};
  const std::vector<uv_buf_t>& bufs = self->gathered_;
  TcpConnection& conn = self->conn_;
  if (conn.closing() || conn.write_side() == TcpConnection::WriteSide::Done)
    return;  // the spans may be gone with the link: never read them
  // The connection refuses (0) while earlier writes are queued or the socket is still connecting,
  // which keeps the bytes in order.
  const int written = conn.try_write(bufs.data(), static_cast<unsigned>(bufs.size()));
  if (written < 0) return self->abort(frame::ResetCode::TargetError);
  std::size_t sent = static_cast<std::size_t>(written);
  if (sent > 0) {
    self->counters_.from_link += sent;
    self->stream_.consumed(sent, self->now());
  }
  if (sent < total) {  // the kernel is full: one copy of the rest, queued behind nothing else of ours
    Bytes rest;
    rest.reserve(total - sent);
    for (const uv_buf_t& b : bufs) {
      const auto* p = reinterpret_cast<const std::uint8_t*>(b.base);
      if (sent >= b.len) {
        sent -= b.len;
        continue;
      }
      rest.insert(rest.end(), p + sent, p + b.len);
      sent = 0;
    }
    self->write_rest(std::move(rest));
  }
  self->maybe_shutdown();
}

// Credit goes back only once the bytes left this process: a slow socket stalls its stream only.
void SocketPipe::write_rest(Bytes rest) {
  const std::size_t n = rest.size();
  conn_.write(std::move(rest), [this, n] {
    counters_.from_link += n;
    stream_.consumed(n, now());
  });
}

void SocketPipe::write_held(Bytes bytes) {
  if (conn_.closing() || conn_.write_side() == TcpConnection::WriteSide::Done || bytes.empty()) return;
  write_rest(std::move(bytes));
}

void SocketPipe::on_open_result(const frame::OpenResult& result) {
  if (result.code != frame::OpenCode::Ok) stream_.drop();  // the mux has ended it already
  if (answer_) return answer_(result);
  if (result.code != frame::OpenCode::Ok) abort(frame::ResetCode::Cancel, true);
}

void SocketPipe::on_fin() {
  fin_received_ = true;
  limit_drain_if_ended();
  maybe_shutdown();
}

// The stream's FIN becomes shutdown(SHUT_WR) once the bytes before it are written (the connection
// waits for its queued writes; the gathered ones are flushed first).
void SocketPipe::maybe_shutdown() {
  if (fin_received_ && gathered_bytes_ == 0) conn_.shutdown_after_writes();
}

// Both FINs have crossed, so the mux forgets the stream (and its link may go): a socket still taking
// its last bytes gets kDrainIdleMs to take them, unless it has a timeout of its own.
void SocketPipe::limit_drain_if_ended() {
  if (conn_.read_done() && fin_received_ && conn_.idle_timeout() == 0 && !conn_.closing())
    conn_.set_idle_timeout(kDrainIdleMs);
}

void SocketPipe::on_reset(frame::ResetCode code) {
  stream_.drop();
  // A FIN before the reset (the link closed behind a finished download): every byte for the socket
  // is here, and a RST would throw away what still waits for a slow reader. A pipe that never
  // started and has nothing to write (the relay's dial failed) just closes.
  if (fin_received_ && !conn_.closing() && (started_ || conn_.pending_writes() > 0 || gathered_bytes_ > 0)) {
    if (log::enabled(log::Level::Debug))
      log::debug("pipe", "stream " + std::to_string(id()) + " gone after its FIN: finishing its writes");
    if (!gathered_.empty()) {  // the spans live until this read of the link ends: write them now
      read_batch::cancel(loop_, this);
      flush_gathered(this);
    }
    if (conn_.idle_timeout() == 0) conn_.set_idle_timeout(kDrainIdleMs);
    return conn_.close_after_writes();
  }
  if (log::enabled(log::Level::Debug))
    log::debug("pipe", "stream " + std::to_string(id()) + " reset by the link");
  conn_.abort(code, true);  // the other end aborted: abort this one too
}

}  // namespace ferry::uv

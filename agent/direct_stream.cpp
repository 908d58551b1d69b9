#include "agent/direct_stream.hpp"

namespace ferry::agent {

DirectStream::DirectStream(uv_loop_t* loop, const Target& target, std::shared_ptr<net::LookupSlots> lookups,
                           link::StreamHandler& handler)
    : loop_(loop), target_(target), lookups_(std::move(lookups)), handler_(&handler) {
  conn_ = std::make_unique<uv::TcpConnection>(loop_, [this](uv::TcpConnection&) { on_closed(); });
}

DirectStream::Ptr DirectStream::make(uv_loop_t* loop, const Target& target,
                                     std::shared_ptr<net::LookupSlots> lookups,
                                     link::StreamHandler& handler) {
  return Ptr(new DirectStream(loop, target, std::move(lookups), handler));
}

void DirectStream::start() {
  net::DialOptions options;
  options.connect_timeout_ms = kConnectTimeoutMs;
  options.lookups = lookups_;
  options.who = "it";
  // No address check: the laptop may dial whatever its user may. Which targets come here at all is
  // the routes' decision (split_routing.hpp).
  dialer_ = net::Dialer::make(loop_, target_, std::move(options), {}, conn_->socket(),
                              [this](const net::DialResult& r) { on_dialled(r); });
  dialer_->start();
}

void DirectStream::on_dialled(const net::DialResult& r) {
  dialer_.reset();  // it has answered; it frees itself once its handles have closed
  if (r.code != frame::OpenCode::Ok) {
    conn_->abort(frame::ResetCode::TargetError);  // closes the unconnected socket; no event follows
    // The handler may let this stream go from inside: nothing is touched after it.
    return handler_->on_open_result({r.code, 0, "dialled directly from this computer: " + r.reason});
  }
  connected_ = true;
  dialled_ = r.dialled;
  conn_->set_idle_timeout(kIdleTimeoutMs);  // as the relay's idle_timeout_s bounds a relayed stream
  conn_->carries_stream();  // an aborted stream resets the target, which must not see a clean end
  conn_->read_raw([this](ByteSpan b) { on_target_bytes(b); });
  handler_->on_open_result({frame::OpenCode::Ok, 0, ""});
}

void DirectStream::on_target_bytes(ByteSpan bytes) {
  if (bytes.empty()) {
    // A reset (or any read error) is not an end: the owner must hear it as one, so that its client
    // is reset too rather than handed a truncated answer that looks whole.
    if (conn_->read_error() != 0 || conn_->reset_by_peer())
      return conn_->abort(frame::ResetCode::TargetError);
    fin_received_ = true;
    conn_->mark_read_done();
    return handler_->on_fin();
  }
  unconsumed_ += bytes.size();
  if (unconsumed_ >= kHighWater && !read_paused_) {
    read_paused_ = true;
    conn_->pause_raw();
  }
  handler_->on_data(bytes);  // last: the handler may let this stream go from inside
}

void DirectStream::consumed(std::size_t n) {
  unconsumed_ -= std::min(n, unconsumed_);
  if (read_paused_ && unconsumed_ < kLowWater) {
    read_paused_ = false;
    conn_->resume_raw();
  }
}

bool DirectStream::send(ByteSpan bytes) {
  if (!connected_ || fin_sent_ || conn_->ending_asked() || bytes.empty()) return true;
  conn_->write(Bytes(bytes.begin(), bytes.end()), [this] {
    if (!send_full_ || conn_->pending_writes() >= kLowWater || released_) return;
    send_full_ = false;
    handler_->on_writable();
  });
  if (conn_->pending_writes() < kHighWater) return true;
  send_full_ = true;
  return false;
}

void DirectStream::finish() {
  if (!connected_ || fin_sent_) return;
  fin_sent_ = true;
  conn_->shutdown_after_writes();
}

void DirectStream::on_closed() {
  closed_ = true;
  if (released_) return delete this;
  // A close the owner did not see coming (a write failed, the target reset): the stream is gone.
  // A clean one (a FIN each way) was told already, by on_fin and the owner's own finish().
  if (connected_ && !conn_->ended_cleanly()) handler_->on_reset(frame::ResetCode::TargetError);
}

void DirectStream::release() noexcept {
  released_ = true;
  dialer_.reset();  // a dial in flight is abandoned; its callbacks find nobody
  if (closed_) return delete this;
  if (connected_ && (left_cleanly_ || (fin_sent_ && fin_received_))) {
    // Every queued byte and the FIN still go out, unless the target stops reading them: nothing owns
    // this stream any more, so a stalled close must end by itself.
    conn_->set_idle_timeout(kCloseIdleMs);
    conn_->close_after_writes();
  } else
    conn_->abort(frame::ResetCode::Cancel, true);
}

}  // namespace ferry::agent

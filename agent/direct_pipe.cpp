#include "agent/direct_pipe.hpp"

namespace ferry::agent {

DirectPipe::DirectPipe(uv::TcpConnection& client, DirectStream::Ptr stream, ByteSpan early)
    : client_(client), stream_(std::move(stream)) {
  stream_->bind(*this);
  client_.carries_stream();  // a reset target resets the client: a cut download must not look whole
  if (!early.empty()) on_client_bytes(early);
}

void DirectPipe::start(bool client_eof) {
  if (client_eof) {
    stream_->finish();
    return client_.mark_read_done();
  }
  client_.read_raw([this](ByteSpan b) { on_client_bytes(b); });
}

void DirectPipe::end(bool clean) {
  if (clean) stream_->leave();
  stream_.reset();
}

void DirectPipe::on_client_bytes(ByteSpan bytes) {
  if (bytes.empty()) {  // EOF, or the client aborted
    if (client_.read_error() != 0 || client_.reset_by_peer())
      return client_.abort(frame::ResetCode::Cancel);  // the session lets the stream go, with RST
    stream_->finish();
    return client_.mark_read_done();
  }
  counters_.to_target += bytes.size();
  if (!stream_->send(bytes)) client_.pause_raw();
}

void DirectPipe::on_data(ByteSpan bytes) {
  const std::size_t n = bytes.size();
  client_.write(Bytes(bytes.begin(), bytes.end()), [this, n] {
    counters_.from_target += n;
    stream_->consumed(n);
  });
}

void DirectPipe::on_fin() { client_.shutdown_after_writes(); }

void DirectPipe::on_reset(frame::ResetCode code) { client_.abort(code, true); }

void DirectPipe::on_writable() { client_.resume_raw(); }

}  // namespace ferry::agent

#include "agent/one_stream.hpp"

namespace ferry::agent {

OneStream::OneStream(uv_loop_t* loop, Links links) : loop_(loop), links_(std::move(links)) {}

OneStream::~OneStream() {
  // close() ran (the timer is closed); a stream still named here is reset, and an open still waiting
  // for a link forgotten, so that nothing calls back into freed memory.
  if (links_.cancel) links_.cancel(this);
  stream_.reset(frame::ResetCode::Cancel);
}

void OneStream::start(const Target& target, std::string request, std::uint64_t deadline_ms, Complete complete,
                      std::function<void(Outcome)> done) {
  request_ = std::move(request);
  complete_ = std::move(complete);
  done_ = std::move(done);
  deadline_.init(uv_timer_init, loop_, this);
  uv_timer_start(
      deadline_.get(),
      [](uv_timer_t* t) {
        auto* self = static_cast<OneStream*>(t->data);
        if (!self->answered_) {
          self->outcome_.open = {frame::OpenCode::Timeout, 0, "no answer in time"};
          return self->finish();
        }
        self->finish("no complete answer in time");
      },
      deadline_ms, 0);
  links_.open(target, this);  // the answer comes to on_open_result, perhaps at once
}

void OneStream::close(std::function<void()> gone) {
  if (links_.cancel) links_.cancel(this);
  if (outcome_.ended && answered_)
    stream_.leave();  // the origin is done; our FIN is queued
  else
    stream_.reset(frame::ResetCode::Cancel);
  deadline_.close();
  handles_.when_closed(std::move(gone));
}

void OneStream::on_open_sent(const link::StreamRef& ref) { stream_ = ref; }

void OneStream::on_open_result(const frame::OpenResult& r) {
  if (finished_) return;
  answered_ = true;
  outcome_.open = r;
  if (r.code != frame::OpenCode::Ok) {
    stream_.drop();  // a refused stream is gone already
    return finish();
  }
  if (!request_.empty())
    stream_.send(ByteSpan(reinterpret_cast<const std::uint8_t*>(request_.data()), request_.size()));
  stream_.finish();
  check();
}

void OneStream::on_data(ByteSpan bytes) {
  if (finished_) return;
  if (outcome_.answer.size() + bytes.size() > kMaxAnswer)
    return finish("the answer is longer than " + std::to_string(kMaxAnswer) + " bytes");
  outcome_.answer.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  stream_.consumed(bytes.size(), link::Instant(static_cast<std::int64_t>(uv_now(loop_))));
  check();
}

void OneStream::on_fin() {
  if (finished_) return;
  outcome_.ended = true;
  check();
  if (!finished_) finish();  // nothing more can come
}

void OneStream::on_reset(frame::ResetCode code) {
  stream_.drop();
  if (finished_) return;
  finish(std::string("the stream was reset (") + frame::reset_code_name(code) + ")");
}

void OneStream::check() {
  if (!finished_ && complete_ && complete_(outcome_.answer, outcome_.ended)) finish();
}

void OneStream::finish(std::string error) {
  if (std::exchange(finished_, true)) return;
  uv_timer_stop(deadline_.get());
  outcome_.error = std::move(error);
  if (done_) done_(outcome_);
}

}  // namespace ferry::agent

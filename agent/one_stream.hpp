// One stream the agent opens for itself rather than for a client: the egress check and
// `ferry-agent doctor --target`. It asks the links for a stream like any client's (so the relay's
// policy, name resolution and dial are the real ones), sends a request with a FIN, collects what
// comes back, and reports one Outcome: the relay's answer to the OPEN, then the bytes until
// `complete` says they are enough, the stream ended, it was reset, or the deadline passed.
#pragma once

#include <uv.h>

#include <functional>
#include <string>

#include "common/link/stream_ref.hpp"
#include "common/uv/handle.hpp"

namespace ferry::agent {

class OneStream final : public link::StreamHandler {
 public:
  // Collected bytes beyond this end the stream (an answer is expected to be small).
  static constexpr std::size_t kMaxAnswer = 64 * 1024;

  // How to reach the relay: LinkPool's or one LinkClient's open() and cancel().
  struct Links {
    std::function<void(const Target&, link::StreamHandler*)> open;
    std::function<void(link::StreamHandler*)> cancel;
  };
  struct Outcome {
    frame::OpenResult open{frame::OpenCode::Failure, 0,
                           ""};  // the relay's answer; Timeout "no answer in time" past the deadline
    std::string answer;          // bytes that came back on an opened stream
    bool ended = false;          // the other side finished its direction (FIN)
    std::string error;           // an opened stream that broke off: reset, or the deadline passed
  };
  // Asked after each arrival: are `answer` (and `ended`) enough? True ends the stream.
  using Complete = std::function<bool(std::string_view answer, bool ended)>;

  OneStream(uv_loop_t* loop, Links links);
  ~OneStream();
  OneStream(const OneStream&) = delete;
  OneStream& operator=(const OneStream&) = delete;

  // Once. `done` runs once, from the loop; it may call close() but must not destroy the object.
  void start(const Target& target, std::string request, std::uint64_t deadline_ms, Complete complete,
             std::function<void(Outcome)> done);
  // Ends the stream (reset unless it ended cleanly) and the timer; `gone` runs once the object may be
  // destroyed.
  void close(std::function<void()> gone);

 private:
  void on_open_sent(const link::StreamRef& ref) override;
  void on_open_result(const frame::OpenResult& r) override;
  void on_data(ByteSpan bytes) override;
  void on_fin() override;
  void on_reset(frame::ResetCode code) override;
  void check();
  void finish(std::string error = {});

  uv_loop_t* loop_;
  Links links_;
  link::StreamRef stream_;
  std::string request_;
  Complete complete_;
  std::function<void(Outcome)> done_;
  Outcome outcome_;
  bool answered_ = false;  // the OPEN's result came
  bool finished_ = false;  // done_ ran
  uv::HandleGroup handles_;
  uv::Handle<uv_timer_t> deadline_{handles_};
};

}  // namespace ferry::agent

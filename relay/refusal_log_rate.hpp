// How many refused handshakes the relay logs: at most kPerMinute lines a minute for the whole relay,
// so that a scanner cannot fill the disk; the rest are counted in the metrics, and in one line when
// the minute ends. Shared by every worker (each used to keep its own count, which let 20 lines a
// minute through per worker). Thread-safe.
#pragma once

#include <cstdint>
#include <mutex>

namespace ferry::relay {

class RefusalLogRate {
 public:
  static constexpr std::uint64_t kPerMinute = 20;
  struct Verdict {
    bool log = false;            // write this refusal's line
    std::uint64_t left_out = 0;  // first say how many the last minute left out (0: nothing to say)
  };
  Verdict note(std::uint64_t now_ms);

 private:
  std::mutex mutex_;
  std::uint64_t minute_ = 0;
  std::uint64_t lines_ = 0;
  std::uint64_t left_out_ = 0;
};

}  // namespace ferry::relay

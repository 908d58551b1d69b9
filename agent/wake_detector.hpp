// Notices that the agent was not running for a while, sans-I/O: the laptop slept, or the process was
// stopped (SIGSTOP, a debugger, a VM paused). Either way its links may be dead without a word, and
// waiting out the dead-peer time would leave every request hanging for up to 45 s after wake.
//
// Two clocks tell: a suspended system stops CLOCK_MONOTONIC but not CLOCK_BOOTTIME, so their gap
// grows by the time slept; a stopped process's timer fires late on the monotonic clock itself. The
// watch (network_watch.hpp) calls observe() from a timer every kTickMs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace ferry::agent {

class WakeDetector {
 public:
  static constexpr std::int64_t kTickMs = 2000;
  // Lateness, or time slept, that counts as a wake: well above a busy loop's delays.
  static constexpr std::int64_t kWakeMs = 3000;

  // One tick: the monotonic and boot-time clocks now, in ms. Returns why it counts as a wake
  // ("slept 75 s", "not running for 75 s"), or nothing.
  std::optional<std::string> observe(std::int64_t monotonic_ms, std::int64_t boottime_ms);

 private:
  std::optional<std::int64_t> last_monotonic_;
  std::optional<std::int64_t> last_gap_;  // boottime - monotonic at the last tick
};

}  // namespace ferry::agent

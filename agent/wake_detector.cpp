#include "agent/wake_detector.hpp"

namespace ferry::agent {
namespace {

std::string seconds(std::int64_t ms) { return std::to_string((ms + 500) / 1000) + " s"; }

}  // namespace

std::optional<std::string> WakeDetector::observe(std::int64_t monotonic_ms, std::int64_t boottime_ms) {
  const std::int64_t gap = boottime_ms - monotonic_ms;
  std::optional<std::string> why;
  if (last_gap_ && gap - *last_gap_ >= kWakeMs) {
    why = "the system slept " + seconds(gap - *last_gap_);
  } else if (last_monotonic_ && monotonic_ms - *last_monotonic_ - kTickMs >= kWakeMs) {
    why = "the agent was not running for " + seconds(monotonic_ms - *last_monotonic_);
  }
  last_gap_ = gap;
  last_monotonic_ = monotonic_ms;
  return why;
}

}  // namespace ferry::agent

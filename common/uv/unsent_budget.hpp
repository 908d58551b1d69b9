// How many unsent bytes the kernel may hold for a link socket (TCP_NOTSENT_LOWAT), and how large a
// batch of records is written at once. Bytes past the kernel's hand are out of the scheduler's: a
// keystroke queued behind them waits for all of them. So the budget is a few milliseconds of what the
// path carries: a full 512 KiB on loopback (smaller costs throughput there), tens of KiB on a home
// line, where 512 KiB would be tens of milliseconds of queue in front of every small message
// (docs/decisions/0007-unsent-budget-follows-path.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

namespace ferry::uv {

inline constexpr std::size_t kMinUnsentBudget = 32 * 1024;
inline constexpr std::size_t kMaxUnsentBudget = 512 * 1024;
// The queue, in time, that the budget allows at the path's rate.
inline constexpr std::uint64_t kUnsentBudgetMicros = 3000;

// The budget for a path the kernel paces at `pacing_rate` bytes per second (1.2 to 2 times what
// congestion control measured it carries).
std::size_t unsent_budget(std::uint64_t pacing_rate) noexcept;

// Sets TCP_NOTSENT_LOWAT where the system has it (Linux, macOS); best effort.
void set_unsent_limit(int fd, std::size_t bytes) noexcept;

}  // namespace ferry::uv

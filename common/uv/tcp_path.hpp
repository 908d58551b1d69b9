// What the kernel knows about a connected TCP socket's path (Linux TCP_INFO), for the link's two
// path-sized limits: the unsent budget (unsent_budget.hpp) follows the pacing rate, and the streams'
// window cap (link/mux.hpp) follows the minimum RTT.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

namespace ferry::uv {

struct TcpPath {
  // Bytes per second the kernel paces at: 1.2 to 2 times what congestion control measured.
  std::uint64_t pacing_rate = 0;
  // The smallest RTT of the last five minutes of ACKs (net.ipv4.tcp_min_rtt_wlen); 0 before the
  // first. Queues in our own buffers never delay an ACK, so a busy link does not inflate it.
  std::chrono::microseconds min_rtt{0};
};

// Nothing where the system does not say (not Linux, a kernel before 4.6, not a connected socket).
std::optional<TcpPath> tcp_path(int fd) noexcept;

}  // namespace ferry::uv

// The link socket's congestion control. One link carries every stream of an agent, keystrokes
// behind downloads, so the queue it builds at the home router's bottleneck is latency for all of
// them. Measured over a 100 Mbit/s, 40 ms path with fq_codel-style queueing (docs/performance.md):
// BBR (v1, the default on some kernels) kept 30-90 ms standing in that queue, lost packets to
// CoDel, and left a small round trip behind a download at 250+ ms p99; CUBIC held it at RTT + 24 ms
// with 90 Mbit/s through. So the link asks for CUBIC, then Reno (which an unprivileged process may
// always choose), and otherwise keeps the system's choice.
#pragma once

#include <string>

namespace ferry::uv {

// Returns the algorithm now in use on `fd` (empty where the system does not say).
std::string prefer_loss_based_congestion_control(int fd) noexcept;

}  // namespace ferry::uv

// The link socket's congestion control. One link carries every stream of an agent, keystrokes
// behind downloads, so the queue it builds at the home router's bottleneck is latency for all of
// them. Over a 100 Mbit/s, 40 ms path behind fq_codel, BBR (v1, the default on some kernels) kept a
// standing queue and lost packets to CoDel, while CUBIC kept a round trip behind a download near the
// RTT at full rate (docs/decisions/0008-loss-based-congestion-control.md). So the link asks for
// CUBIC, then Reno (which an unprivileged process may always choose), and otherwise keeps the
// system's choice.
#pragma once

#include <string>

namespace ferry::uv {

// Returns the algorithm now in use on `fd` (empty where the system does not say).
std::string prefer_loss_based_congestion_control(int fd) noexcept;

}  // namespace ferry::uv

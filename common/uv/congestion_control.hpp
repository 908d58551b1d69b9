// The link socket's congestion control. One link carries many of an agent's streams, so a lost
// packet holds every later byte of the link for a round trip, and a loss-based algorithm (CUBIC,
// Reno) reads every random loss as congestion: on a line that drops 1% of packets, a link under
// CUBIC crawled at 0.37 MB/s where shadowsocks, one BBR connection per stream, moved 11.3 MB/s
// (docs/decisions/0026-bbr-for-the-link.md). BBR does not slow down for random loss. Its standing
// queue at a home router's bottleneck, which once cost a keystroke behind a download 250 ms at p99
// (decision 0008), stays on the download's link: with the pool of links (two by default) fq_codel
// queues the other link apart, and a round trip behind a download measured RTT + 1.4 ms at p99.
// So the link asks for BBR where the system allows it, then CUBIC, then Reno (which an unprivileged
// process may always choose), and otherwise keeps the system's choice.
#pragma once

#include <string>

namespace ferry::uv {

// Returns the algorithm now in use on `fd` (empty where the system does not say).
std::string choose_link_congestion_control(int fd) noexcept;

}  // namespace ferry::uv

// How a link's session and a resume are named in logs and status: a session id by its first 8 hex
// digits (enough to tell an agent's links apart, and nothing an observer could use), durations in
// tenths of a second, byte counts in binary units.
#pragma once

#include <cstdint>
#include <string>

#include "common/link/handshake_payload.hpp"

namespace ferry::link {

std::string short_session_id(const SessionId& id);
std::string format_seconds(std::uint64_t ms);  // "4.2 s"
std::string format_bytes(std::uint64_t n);     // "512 B", "3.0 KiB", "1.2 MiB", "2.0 GiB"

}  // namespace ferry::link

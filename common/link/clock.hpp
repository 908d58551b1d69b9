// Time as the link's state machines see it: milliseconds on a monotonic clock whose epoch does not
// matter (libuv's uv_now in production, a plain counter in tests). Nothing in link/ reads a clock.
#pragma once

#include <chrono>

namespace ferry::link {

using Instant = std::chrono::milliseconds;
using Millis = std::chrono::milliseconds;

}  // namespace ferry::link

#pragma once

#include <string>

namespace ferry::bench {

// Bridges interfaces `if_a` and `if_b` (AF_PACKET, root), delaying each direction by `delay_ms` and
// then shaping it to `rate_mbit` behind fq_codel. Prints "linkem ready" and runs until killed.
int run_linkem(const std::string& if_a, const std::string& if_b, double delay_ms, double rate_mbit);

}  // namespace ferry::bench

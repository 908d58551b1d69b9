#pragma once

#include <cstdint>
#include <string>

namespace ferry::bench {

// Bridges interfaces `if_a` and `if_b` (AF_PACKET, root), delaying each direction by `delay_ms` and
// then shaping it to `rate_mbit` behind fq_codel, after dropping `loss_pct` % of the frames at random
// in each direction (generators seeded from `seed`). Prints "linkem ready" and runs until killed.
int run_linkem(const std::string& if_a, const std::string& if_b, double delay_ms, double rate_mbit,
               double loss_pct = 0, std::uint64_t seed = 1);

}  // namespace ferry::bench

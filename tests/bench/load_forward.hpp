#pragma once

#include <string>

namespace ferry::bench {

// The plain forwarder pair, the CPU yardstick of scenario a: what a user-space proxy costs without
// any cryptography. The laptop side (`office` set) accepts SOCKS5 on `listen` and asks the office
// side at `office` to dial the target; the office side (`office` empty) dials it. Prints
// "forward listening on ADDR" and runs until killed.
int run_forward(const std::string& listen, const std::string& office);

}  // namespace ferry::bench

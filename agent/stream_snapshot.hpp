// One open stream as the status page lists it: who asked, for what, and how much moved.
#pragma once

#include <cstdint>
#include <string>

namespace ferry::agent {

struct StreamSnapshot {
  std::string client;                    // the local client's address
  std::string target;                    // host:port as the client asked
  std::uint64_t sent = 0, received = 0;  // bytes toward the target, and back
  std::uint64_t age_s = 0;               // since the relay opened the stream
};

}  // namespace ferry::agent

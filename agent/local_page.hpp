// A client of the running agent's own pages (GET /status), for the commands that ask it:
// `ferry-agent status` and `ferry-agent doctor`. Blocking, with short timeouts: a command line tool.
#pragma once

#include <string>

#include "common/config/agent_config.hpp"

namespace ferry::agent {

struct LocalPage {
  bool reached = false;     // something accepted the connection
  std::string status_line;  // "HTTP/1.1 200 OK", or "" when nothing answered
  std::string body;         // of a 200
  bool ok() const noexcept { return status_line.rfind("HTTP/1.1 200", 0) == 0; }
};

// GET `path` from the agent listening on `listen` (a wildcard address is asked on loopback), with the
// Host its local pages require and [auth]'s credentials.
LocalPage fetch_local_page(const config::AgentConfig& cfg, const std::string& listen,
                           const std::string& path);

}  // namespace ferry::agent

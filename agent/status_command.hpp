// `ferry-agent status`: asks the running agent for GET /status on its own port and prints it.
#pragma once

#include "common/config/agent_config.hpp"

namespace ferry::agent {

// Returns the exit code: 0 printed, 1 the agent is not answering.
int status_command(const config::AgentConfig& cfg);

}  // namespace ferry::agent

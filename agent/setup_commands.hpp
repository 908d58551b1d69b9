// `ferry-agent init` (a key and a working agent.toml, without hand-editing) and `ferry-agent env`
// (the lines that point a shell, git or ssh at the agent).
#pragma once

#include <string>

#include "common/config/agent_config.hpp"

namespace ferry::agent {

// Where init writes by default: $XDG_CONFIG_HOME/ferry, else ~/.config/ferry (Linux), or
// ~/Library/Application Support/ferry (macOS).
std::string default_config_dir();
// Returns the exit code. Refuses to overwrite an existing key or config.
int init_command(const std::string& dir, const std::string& relay, const std::string& relay_key,
                 const std::string& http_listen = "127.0.0.1:8080",
                 const std::string& socks_listen = "127.0.0.1:1080");
// Prints shell lines (default), git config lines (--git) or an ssh_config snippet (--ssh).
std::string env_text(const config::AgentConfig& cfg, bool git, bool ssh);

}  // namespace ferry::agent

// `ferry-agent system-proxy on|off|status`: points the operating system's proxy settings at the
// agent's PAC file (GET /proxy.pac), and puts them back.
//
//   GNOME (gsettings org.gnome.system.proxy): mode 'auto' and autoconfig-url
//   macOS (networksetup): the automatic proxy URL of every enabled network service
//   anything else: the steps, printed
//
// `on` first saves the settings it changes, as they were, in system-proxy.saved beside agent.toml;
// `off` writes them back exactly and removes the file. Both may run twice. `status` says what is set
// and whether ferry's settings were left behind (saved, but the agent is not running: a crash, or a
// stop without `off`), which `off` repairs. While the agent is down, sites the PAC does not list keep
// working (browsers treat an unreachable PAC as DIRECT); listed ones fail until it is back.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "common/config/agent_config.hpp"

namespace ferry::agent {

// The settings a backend changes, as its own tool prints them (gsettings: GVariant text such as
// 'auto'), so that writing them back restores them exactly. Key -> value.
using ProxySettings = std::map<std::string, std::string>;

// The saved file: a comment, "backend NAME", then each setting as two lines, its key and its value
// (a macOS service name may hold spaces). Sans-I/O.
std::string encode_saved(const std::string& backend, const ProxySettings& s);
// The backend's name and the settings; nothing for a file that is not one of ours.
std::optional<std::pair<std::string, ProxySettings>> decode_saved(const std::string& text);

// Returns the exit code: 0 done (or nothing to do), 1 the settings could not be changed, 2 usage.
int system_proxy_command(const config::AgentConfig& cfg, const std::string& action);

}  // namespace ferry::agent

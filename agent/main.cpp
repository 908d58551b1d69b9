// ferry-agent: HTTP and SOCKS proxy ports on localhost, carried over the link to the office relay.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "agent/agent_server.hpp"
#include "agent/doctor_command.hpp"
#include "agent/setup_commands.hpp"
#include "agent/status_command.hpp"
#include "agent/system_proxy.hpp"
#include "common/cli_args.hpp"
#include "common/config/agent_config.hpp"
#include "common/key_commands.hpp"
#include "common/log.hpp"
#include "common/program_start.hpp"
#include "common/uv/loop.hpp"

using namespace ferry;

namespace {

constexpr const char* kUsage =
    "usage:\n"
    "  ferry-agent --config agent.toml          run the agent\n"
    "  ferry-agent keygen --out agent.key       write a new private key (mode 0600), print its public key\n"
    "  ferry-agent pubkey --key agent.key       print the public key of a private key file\n"
    "  ferry-agent check --config agent.toml    validate a config and exit\n"
    "  ferry-agent status [--config agent.toml] print the running agent's link state, relay, RTT, streams\n"
    "  ferry-agent doctor [--config agent.toml] [--json] [--target HOST:PORT]\n"
    "                                           check config, key, ports, relay, handshake, RTT, egress\n"
    "  ferry-agent system-proxy on|off|status [--config agent.toml]\n"
    "                                           point the system proxy at the agent's PAC file, or back\n"
    "  ferry-agent init --relay HOST:PORT --relay-key KEY [--config-dir DIR] [--http ADDR] [--socks ADDR]\n"
    "                                           create a key and agent.toml (default dir: ~/.config/ferry)\n"
    "  ferry-agent env [--config agent.toml] [--git | --ssh]\n"
    "                                           print the shell, git or ssh lines that use the agent\n"
    "  ferry-agent --help | --version\n"
    "exit codes: 0 success, 1 runtime failure, 2 usage or configuration error;\n"
    "  doctor: 3 relay not reachable, 4 handshake not answered, 5 egress check failed or differs from\n"
    "  expected_egress, 6 the --target stream failed\n";

int load(std::string path, config::AgentConfig& cfg) {
  if (path.empty() && ::access("agent.toml", R_OK) == 0) path = "agent.toml";
  if (path.empty()) {
    std::fprintf(stderr, "--config FILE is required\n%s", kUsage);
    return 2;
  }
  if (auto err = config::load_agent_config(path, cfg)) {
    std::fprintf(stderr, "%s\n", err->to_string().c_str());
    return 2;
  }
  return 0;
}

int run(const std::string& path) {
  config::AgentConfig cfg;
  if (int rc = load(path, cfg)) return rc;
  auto key = load_private_key(cfg.file, cfg.private_key_file);
  if (!key) return 2;
  uv::Loop loop;
  int rc = 0;
  {
    agent::AgentServer server(loop.get(), cfg, std::move(*key));
    if (auto r = server.start(); !r) {
      log::error("agent", "cannot start: " + describe(r.error()));
      rc = 1;
      server.stop();  // close what was opened, then let the loop finish
    }
    loop.run();
  }
  uv_run(loop.get(), UV_RUN_DEFAULT);
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  ignore_sigpipe();  // first: a client that vanishes mid-write must cost one stream, not the process
  CliArgs a;
  if (auto done =
          start_program("ferry-agent", kUsage, argc, argv,
                        {"keygen", "pubkey", "check", "status", "init", "env", "doctor", "system-proxy"}, a))
    return *done;
  config::AgentConfig cfg;
  if (a.command == "check") {
    if (int rc = load(a.config, cfg)) return rc;
    std::printf("%s: OK\n", cfg.file.c_str());
    return 0;
  }
  if (a.command == "init")
    return agent::init_command(a.config_dir.empty() ? agent::default_config_dir() : a.config_dir, a.relay,
                               a.relay_key, a.http_listen.empty() ? "127.0.0.1:8080" : a.http_listen,
                               a.socks_listen.empty() ? "127.0.0.1:1080" : a.socks_listen);
  if (a.command == "env") {
    if (int rc = load(a.config.empty() && ::access("agent.toml", R_OK) != 0
                          ? agent::default_config_dir() + "/agent.toml"
                          : a.config,
                      cfg))
      return rc;
    std::fputs(agent::env_text(cfg, a.git, a.ssh).c_str(), stdout);
    return 0;
  }
  if (!a.action.empty() && a.command != "system-proxy") {
    std::fprintf(stderr, "unknown argument: %s\n%s", a.action.c_str(), kUsage);
    return 2;
  }
  if (a.command == "system-proxy") {
    if (int rc = load(a.config.empty() && ::access("agent.toml", R_OK) != 0
                          ? agent::default_config_dir() + "/agent.toml"
                          : a.config,
                      cfg))
      return rc;
    return agent::system_proxy_command(cfg, a.action);
  }
  if (a.command == "doctor") return agent::doctor_command({a.config, a.json, a.target});
  if (a.command == "status") {
    if (int rc = load(a.config, cfg)) return rc;
    return agent::status_command(cfg);
  }
  return run(a.config);
}

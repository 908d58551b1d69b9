#include "agent/status_command.hpp"

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>

#include "agent/local_page.hpp"

namespace ferry::agent {
namespace {

// The value of "key" in our own flat status JSON (strings unquoted), or "".
std::string field(const std::string& json, const std::string& key) {
  const auto at = json.find("\"" + key + "\":");
  if (at == std::string::npos) return "";
  auto v = at + key.size() + 3;
  if (json[v] == '"') {  // unescapes \" and \\ (a \u00XX of a control byte stays as it is)
    std::string out;
    for (auto i = v + 1; i < json.size() && json[i] != '"'; ++i) out += json[i] == '\\' ? json[++i] : json[i];
    return out;
  }
  const auto end = json.find_first_of(",}", v);
  return json.substr(v, end - v);
}

}  // namespace

int status_command(const config::AgentConfig& cfg) {
  const std::string listen = cfg.http_listen ? *cfg.http_listen : *cfg.socks_listen;
  const LocalPage page = fetch_local_page(cfg, listen, "/status");
  if (!page.reached) {
    std::fprintf(stderr, "the agent is not running (nothing answers on %s)\n", listen.c_str());
    return 1;
  }
  if (!page.ok()) {
    std::fprintf(stderr, "the agent on %s did not answer /status: %s\n", listen.c_str(),
                 page.status_line.c_str());
    return 1;
  }
  const std::string& j = page.body;
  const std::string agent = field(j, "agent");
  if (agent == "draining")
    std::printf("agent:           draining (open streams finish, new ones are refused; %s s left)\n",
                field(j, "drain_left_s").c_str());
  else if (!agent.empty())
    std::printf("agent:           %s\n", agent.c_str());
  std::printf("link:            %s\n", field(j, "link").c_str());
  std::printf("relay:           %s\n", field(j, "relay").c_str());
  std::size_t links = 0;
  for (auto at = j.find("{\"state\":"); at != std::string::npos; at = j.find("{\"state\":", at + 1)) ++links;
  if (links > 0) std::printf("links up:        %s of %zu\n", field(j, "links_up").c_str(), links);
  const std::string cipher = field(j, "cipher");
  std::printf("cipher:          %s\n", cipher == "null" ? "-" : cipher.c_str());
  const std::string rtt = field(j, "rtt_ms");
  std::printf("rtt:             %s\n", rtt == "null" ? "-" : (rtt + " ms").c_str());
  std::printf("open streams:    %s\n", field(j, "open_streams").c_str());
  std::printf("local clients:   %s\n", field(j, "clients").c_str());
  std::printf("bytes sent:      %s\n", field(j, "bytes_sent").c_str());
  std::printf("bytes received:  %s\n", field(j, "bytes_received").c_str());
  const std::string up = field(j, "connected_for_s");
  std::printf("connected for:   %s\n", up == "null" ? "-" : (up + " s").c_str());
  const std::string err = field(j, "last_error");
  std::printf("last error:      %s\n", err == "null" ? "-" : err.c_str());
  // The last egress check (agent.toml [relay] egress_check_url), with when it ran.
  const std::string egress = field(j, "egress_check"), checked = field(j, "egress_checked_unix_s");
  if (egress == "null" || egress.empty()) {
    std::printf("egress check:    -\n");
  } else {
    const long long ago = static_cast<long long>(std::time(nullptr)) - std::atoll(checked.c_str());
    std::printf("egress check:    %s: %s (%lld s ago)\n", field(j, "egress_ok") == "true" ? "OK" : "FAIL",
                egress.c_str(), ago < 0 ? 0 : ago);
  }
  // The routes: what the relay pushed, with its version, and agent.toml's own; the PAC that holds them.
  const std::string routes_version = field(j, "routes_version");
  std::string routes = routes_version == "null" || routes_version.empty()
                           ? std::string("none from the relay yet")
                           : field(j, "routes_count") + " from the relay (version " + routes_version + ")";
  routes += ", " + std::to_string(cfg.routes_extra.size()) + " of your own";
  if (cfg.http_listen) routes += "; PAC: http://" + listen + "/proxy.pac";
  std::printf("routes:          %s\n", routes.c_str());
  std::printf("split mode:      %s\n", field(j, "split_mode").c_str());
  // agent.toml's relays, when it lists several: which serves, and why each other one does not.
  if (cfg.relays.size() > 1) {
    std::size_t i = 0;
    for (auto at = j.find("{\"address\":"); at != std::string::npos; at = j.find("{\"address\":", at + 1)) {
      const std::string r = j.substr(at, j.find('}', at) - at + 1);
      ++i;
      std::printf("relay %zu:%*s%s: %s\n", i, i < 10 ? 9 : 8, "", field(r, "address").c_str(),
                  field(r, "state").c_str());
    }
  }
  // Each link's session: resumes are the lost links its streams lived through (docs/protocol.md 4.13).
  std::size_t n = 0;
  for (auto at = j.find("{\"state\":"); at != std::string::npos; at = j.find("{\"state\":", at + 1)) {
    const std::string l = j.substr(at, j.find('}', at) - at + 1);
    const std::string session = field(l, "session"), reason = field(l, "last_resume_reason");
    std::string line = field(l, "state");
    if (field(l, "held") == "true") line += " (lost; its streams wait for a resume)";
    if (session != "null") line += ", session " + session;
    if (field(l, "resumable") == "false" && session != "null") line += " (not resumable)";
    line += ", " + field(l, "resumes") + " resumes";
    if (reason != "null") line += " (last: " + reason + ")";
    ++n;
    std::printf("link %zu:%*s%s\n", n, n < 10 ? 10 : 9, "", line.c_str());
  }
  return 0;
}

}  // namespace ferry::agent

#include "agent/system_proxy.hpp"

#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <vector>

#include "agent/local_page.hpp"
#include "agent/run_command.hpp"

namespace ferry::agent {
namespace {

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  virtual std::string describe() const = 0;  // "GNOME's proxy settings"
  // The settings `on` changes, as they are now; nothing when they cannot be read (`why` says).
  virtual std::optional<ProxySettings> read(std::string& why) = 0;
  virtual bool write(const ProxySettings& s, std::string& why) = 0;
  // What `on` sets: the PAC, for the same keys read() returns.
  virtual ProxySettings ours(const ProxySettings& now, const std::string& pac_url) const = 0;
};

// gsettings prints and takes GVariant text: a string is 'text', with \' and \\ escaped.
std::string gvariant_string(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

std::string trim_newline(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

class Gnome final : public Backend {
 public:
  static constexpr const char* kSchema = "org.gnome.system.proxy";
  static bool available() { return run_command({"gsettings", "list-keys", kSchema}).ok(); }
  std::string name() const override { return "gnome"; }
  std::string describe() const override {
    return "GNOME's proxy settings (gsettings org.gnome.system.proxy)";
  }
  std::optional<ProxySettings> read(std::string& why) override {
    ProxySettings s;
    for (const char* key : {"mode", "autoconfig-url"}) {
      const CommandResult r = run_command({"gsettings", "get", kSchema, key});
      if (!r.ok()) {
        why = "gsettings get " + std::string(key) + " failed: " + trim_newline(r.err);
        return std::nullopt;
      }
      s[key] = trim_newline(r.out);
    }
    return s;
  }
  bool write(const ProxySettings& s, std::string& why) override {
    // The URL before the mode: a desktop never sees mode 'auto' with the old URL.
    for (const char* key : {"autoconfig-url", "mode"}) {
      const auto it = s.find(key);
      if (it == s.end()) continue;
      const CommandResult r = run_command({"gsettings", "set", kSchema, key, it->second});
      if (!r.ok()) {
        why = "gsettings set " + std::string(key) + " failed: " + trim_newline(r.err);
        return false;
      }
    }
    return true;
  }
  ProxySettings ours(const ProxySettings&, const std::string& pac_url) const override {
    return {{"mode", "'auto'"}, {"autoconfig-url", gvariant_string(pac_url)}};
  }
};

// macOS: each enabled network service has its own automatic proxy URL and state. A value is
// "URL<TAB>Yes|No" as `networksetup -getautoproxyurl` reports them.
class MacOs final : public Backend {
 public:
  static bool available() { return run_command({"networksetup", "-listallnetworkservices"}).ok(); }
  std::string name() const override { return "macos"; }
  std::string describe() const override { return "macOS's network services (networksetup)"; }
  std::optional<ProxySettings> read(std::string& why) override {
    const CommandResult list = run_command({"networksetup", "-listallnetworkservices"});
    if (!list.ok()) {
      why = "networksetup -listallnetworkservices failed: " + trim_newline(list.err);
      return std::nullopt;
    }
    ProxySettings s;
    std::istringstream lines(list.out);
    std::string service;
    std::getline(lines, service);  // "An asterisk (*) denotes that a network service is disabled."
    while (std::getline(lines, service)) {
      if (service.empty() || service[0] == '*') continue;  // disabled
      const CommandResult r = run_command({"networksetup", "-getautoproxyurl", service});
      if (!r.ok()) {
        why = "networksetup -getautoproxyurl \"" + service + "\" failed: " + trim_newline(r.err);
        return std::nullopt;
      }
      std::string url = "(null)", enabled = "No";
      std::istringstream fields(r.out);
      for (std::string line; std::getline(fields, line);) {
        if (line.rfind("URL: ", 0) == 0) url = line.substr(5);
        if (line.rfind("Enabled: ", 0) == 0) enabled = line.substr(9);
      }
      s[service] = url + "\t" + enabled;
    }
    return s;
  }
  bool write(const ProxySettings& s, std::string& why) override {
    for (const auto& [service, value] : s) {
      const auto tab = value.find('\t');
      const std::string url = value.substr(0, tab),
                        enabled = tab == std::string::npos ? "No" : value.substr(tab + 1);
      std::vector<std::vector<std::string>> steps;
      if (url != "(null)" && !url.empty())
        steps.push_back({"networksetup", "-setautoproxyurl", service, url});
      steps.push_back({"networksetup", "-setautoproxystate", service, enabled == "Yes" ? "on" : "off"});
      for (const auto& argv : steps) {
        const CommandResult r = run_command(argv);
        if (!r.ok()) {
          why = argv[1] + " \"" + service + "\" failed: " + trim_newline(r.err);
          return false;
        }
      }
    }
    return true;
  }
  ProxySettings ours(const ProxySettings& now, const std::string& pac_url) const override {
    ProxySettings s;
    for (const auto& [service, value] : now) s[service] = pac_url + "\tYes";
    return s;
  }
};

std::string pac_url(const config::AgentConfig& cfg) {
  std::string at = *cfg.http_listen;
  if (at.rfind("0.0.0.0:", 0) == 0) at = "127.0.0.1:" + at.substr(8);
  if (at.rfind("[::]:", 0) == 0) at = "[::1]:" + at.substr(5);
  return "http://" + at + "/proxy.pac";
}

std::string shown(const ProxySettings& s) {
  std::string out;
  for (const auto& [k, v] : s) out += (out.empty() ? "" : ", ") + k + " " + v;
  return out;
}

bool agent_running(const config::AgentConfig& cfg) {
  return fetch_local_page(cfg, *cfg.http_listen, "/status").ok();
}

}  // namespace

std::string encode_saved(const std::string& backend, const ProxySettings& s) {
  std::string out =
      "# ferry-agent system-proxy: the settings `on` replaced; `off` writes them back.\nbackend " + backend +
      "\n";
  for (const auto& [k, v] : s) out += k + "\n" + v + "\n";  // names and values may hold spaces
  return out;
}

std::optional<std::pair<std::string, ProxySettings>> decode_saved(const std::string& text) {
  std::istringstream in(text);
  std::string line, backend;
  while (std::getline(in, line) && !line.empty() && line[0] == '#') {
  }
  if (line.rfind("backend ", 0) != 0) return std::nullopt;
  backend = line.substr(8);
  ProxySettings s;
  for (std::string key, value; std::getline(in, key);) {
    if (!std::getline(in, value)) return std::nullopt;
    s[key] = value;
  }
  return std::make_pair(backend, s);
}

int system_proxy_command(const config::AgentConfig& cfg, const std::string& action) {
  if (action != "on" && action != "off" && action != "status") {
    std::fprintf(stderr, "usage: ferry-agent system-proxy on|off|status [--config agent.toml]\n");
    return 2;
  }
  if (!cfg.http_listen) {
    std::fprintf(stderr, "system-proxy needs [http] in %s: the PAC file is served on that port\n",
                 cfg.file.c_str());
    return 2;
  }
  const std::string url = pac_url(cfg);
  std::unique_ptr<Backend> backend;
  // Whichever tool this system has (macOS's first there): a GNOME desktop on a Mac is rare, and a
  // networksetup anywhere else is one somebody put there on purpose.
#ifdef __APPLE__
  if (MacOs::available()) backend = std::make_unique<MacOs>();
  if (!backend && Gnome::available()) backend = std::make_unique<Gnome>();
#else
  if (Gnome::available()) backend = std::make_unique<Gnome>();
  if (!backend && MacOs::available()) backend = std::make_unique<MacOs>();
#endif
  if (!backend) {
    std::printf(
        "No proxy settings tool found here (GNOME's gsettings, macOS's networksetup). Set it by hand:\n"
        "  the automatic proxy configuration (PAC) URL: %s\n"
        "  KDE: System Settings > Network > Proxy > Use proxy auto configuration URL\n"
        "  Windows: Settings > Network > Proxy > Use setup script\n"
        "  Firefox: Settings > Network Settings > Automatic proxy configuration URL\n",
        url.c_str());
    return action == "status" ? 0 : 1;
  }
  std::error_code ec;
  const std::string saved_path =
      (std::filesystem::absolute(cfg.file, ec).parent_path() / "system-proxy.saved").string();
  std::optional<std::pair<std::string, ProxySettings>> saved;
  if (std::ifstream f(saved_path); f) {
    std::stringstream text;
    text << f.rdbuf();
    saved = decode_saved(text.str());
    if (!saved || saved->first != backend->name()) {
      std::fprintf(stderr, "%s is not a settings file of this system's backend (%s); move it away\n",
                   saved_path.c_str(), backend->name().c_str());
      return 1;
    }
  }
  std::string why;
  const auto now = backend->read(why);
  if (!now) {
    std::fprintf(stderr, "cannot read %s: %s\n", backend->describe().c_str(), why.c_str());
    return 1;
  }
  const ProxySettings want = backend->ours(*now, url);
  const bool is_ours = *now == want;

  if (action == "status") {
    std::printf("%s: %s\n", backend->describe().c_str(), shown(*now).c_str());
    if (is_ours && saved) {
      std::printf("on: the system uses ferry's PAC (%s)\n", url.c_str());
      if (!agent_running(cfg))
        std::printf(
            "the agent is not running: sites the PAC lists fail until it is back (the others go directly).\n"
            "Left behind by a crash? `ferry-agent system-proxy off` puts back the settings saved in %s\n",
            saved_path.c_str());
    } else if (saved) {
      std::printf("changed since `on`: `ferry-agent system-proxy off` puts back the settings saved in %s\n",
                  saved_path.c_str());
    } else if (is_ours) {
      std::printf("set to ferry's PAC, but not by `system-proxy on` (nothing saved to put back)\n");
    } else {
      std::printf("off: the system does not use ferry's PAC\n");
    }
    return 0;
  }
  if (action == "on") {
    if (saved && is_ours) {
      std::printf("already on: the system uses %s\n", url.c_str());
      return 0;
    }
    if (!saved) {  // saved first, 0600: `off` must find it even if what follows fails half-way
      const std::string tmp = saved_path + ".tmp";
      std::ofstream(tmp) << encode_saved(backend->name(), *now);
      ::chmod(tmp.c_str(), 0600);
      std::filesystem::rename(tmp, saved_path, ec);
      if (ec) {
        std::fprintf(stderr, "cannot save the current settings in %s: %s\n", saved_path.c_str(),
                     ec.message().c_str());
        return 1;
      }
    }
    if (!backend->write(want, why)) {
      std::fprintf(stderr, "cannot change %s: %s\n", backend->describe().c_str(), why.c_str());
      return 1;
    }
    std::printf(
        "on: %s now use %s\nthe previous settings are saved in %s; `ferry-agent system-proxy off` "
        "puts them back\n",
        backend->describe().c_str(), url.c_str(), saved_path.c_str());
    return 0;
  }
  // off
  if (!saved) {
    if (is_ours) {
      std::fprintf(stderr,
                   "the system uses ferry's PAC, but no saved settings were found in %s: set the proxy "
                   "by hand\n",
                   saved_path.c_str());
      return 1;
    }
    std::printf("already off: nothing to put back\n");
    return 0;
  }
  if (!backend->write(saved->second, why)) {
    std::fprintf(stderr, "cannot restore %s: %s (still saved in %s)\n", backend->describe().c_str(),
                 why.c_str(), saved_path.c_str());
    return 1;
  }
  std::filesystem::remove(saved_path);
  std::printf("off: %s are as before `on` (%s)\n", backend->describe().c_str(), shown(saved->second).c_str());
  return 0;
}

}  // namespace ferry::agent

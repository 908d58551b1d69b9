#include "agent/setup_commands.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "common/crypto/keys.hpp"

namespace ferry::agent {
namespace {

// RFC 3986 userinfo: everything but unreserved characters is percent-encoded.
std::string userinfo(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

// Writes a new file (never over an existing one) with `mode`.
bool write_new(const std::string& path, const std::string& text, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return false;
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  return (::close(fd) == 0) && ok;
}

// The git command writes ~/.gitconfig, a file that is often shared or published: with [auth] it names
// the user alone. Git then fills in the password as for any proxy whose URL has a user and no password:
// from its credential helper, or by asking, and it hands a password that worked to the helper.
std::string git_text(const config::AgentConfig& cfg, const std::string& socks_port) {
  const std::string user = cfg.auth ? userinfo(cfg.username) + "@" : "";
  std::string s;
  if (cfg.auth)
    s = "# [auth] is set: the proxy URL names the user only, so that no password goes into ~/.gitconfig.\n"
        "# git asks for the proxy password when it needs it; with a credential helper it asks once:\n"
        "#   git config --global credential.helper cache    (or store, libsecret, osxkeychain)\n";
  return s + "git config --global http.proxy socks5h://" + user + socks_port + "\n";
}

}  // namespace

std::string default_config_dir() {
  const char* home = std::getenv("HOME");
#ifdef __APPLE__
  return std::string(home ? home : ".") + "/Library/Application Support/ferry";
#else
  if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg && *xdg) return std::string(xdg) + "/ferry";
  return std::string(home ? home : ".") + "/.config/ferry";
#endif
}

int init_command(const std::string& dir, const std::string& relay, const std::string& relay_key,
                 const std::string& http_listen, const std::string& socks_listen) {
  if (relay.empty() || relay_key.empty()) {
    std::fprintf(stderr, "init needs --relay HOST:PORT and --relay-key KEY (from `ferry-relay pubkey`)\n");
    return 2;
  }
  if (!crypto::PublicKey::from_base64(relay_key)) {
    std::fprintf(stderr, "--relay-key: must be the base64 of the relay's 32-byte public key\n");
    return 2;
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return std::fprintf(stderr, "%s: %s\n", dir.c_str(), ec.message().c_str()), 1;
  const std::string key_path = dir + "/agent.key", config_path = dir + "/agent.toml";
  if (std::filesystem::exists(config_path))
    return std::fprintf(stderr, "%s exists; refusing to overwrite it\n", config_path.c_str()), 2;
  const std::string text =
      "# Written by `ferry-agent init`.\nprivate_key_file = \"agent.key\"\n\n[relay]\naddress = \"" + relay +
      "\"\npublic_key = \"" + relay_key + "\"\n\n[http]\nlisten = \"" + http_listen +
      "\"\n\n[socks]\nlisten = \"" + socks_listen + "\"\n";
  // Write the config to a scratch name first and check it, so a bad --relay leaves nothing behind.
  const std::string scratch = config_path + ".new";
  std::filesystem::remove(scratch, ec);
  // 0600: adding [auth] later puts a password in it, and the agent refuses such a file that others can read.
  if (!write_new(scratch, text, 0600))
    return std::fprintf(stderr, "%s: %s\n", scratch.c_str(), std::strerror(errno)), 1;
  config::AgentConfig check;
  if (auto err = config::load_agent_config(scratch, check)) {
    std::filesystem::remove(scratch, ec);
    std::fprintf(stderr, "--relay: %s\n", err->message.c_str());
    return 2;
  }
  const auto key = crypto::SecretKey::generate();
  if (auto r = crypto::write_new_key_file(key_path, key); !r) {
    std::filesystem::remove(scratch, ec);
    std::fprintf(stderr, "%s: %s\n", key_path.c_str(), describe(r.error()).c_str());
    return r.error().code == Errc::Exists ? 2 : 1;
  }
  std::filesystem::rename(scratch, config_path, ec);
  if (ec) return std::fprintf(stderr, "%s: %s\n", config_path.c_str(), ec.message().c_str()), 1;
  std::printf("wrote %s and %s\n", config_path.c_str(), key_path.c_str());
  std::printf("give the relay operator this agent's public key:\n%s\n", key.public_key().to_base64().c_str());
  std::printf("then start it: ferry-agent --config %s\n", config_path.c_str());
  return 0;
}

std::string env_text(const config::AgentConfig& cfg, bool git, bool ssh) {
  // Every agent port speaks HTTP and SOCKS: prefer [http] for HTTP and [socks] for SOCKS when both exist.
  const std::string http_port = cfg.http_listen ? *cfg.http_listen : *cfg.socks_listen;
  const std::string socks_port = cfg.socks_listen ? *cfg.socks_listen : *cfg.http_listen;
  const std::string creds = cfg.auth ? userinfo(cfg.username) + ":" + userinfo(cfg.password) + "@" : "";
  const std::string http = "http://" + creds + http_port;
  const std::string socks = "socks5h://" + creds + socks_port;  // socks5h: the relay resolves names
  if (git) return git_text(cfg, socks_port);
  if (ssh) {
    std::string s =
        "# ~/.ssh/config: route these hosts through ferry (narrow the Host pattern to your office's)\n"
        "Host *.internal.example\n"
        "    ProxyCommand nc -X 5 -x " +
        socks_port + " %h %p\n";
    if (cfg.auth)
      s += "# [auth] is set: nc cannot send a SOCKS password; use an agent port without [auth] for ssh\n";
    return s;
  }
  // The mode goes last, as a comment: `eval $(ferry-agent env)` unquoted joins the lines, and a
  // comment first would swallow every export.
  const char* mode =
      cfg.direct_outside
          ? "# split mode ([routes] direct_outside): the office's routes go through the relay, "
            "everything else straight from this computer\n"
          : "# everything goes through the office's relay ([routes] direct_outside = true: "
            "only the office's routes)\n";
  return "export http_proxy=" + http + "\nexport https_proxy=" + http + "\nexport HTTP_PROXY=" + http +
         "\nexport HTTPS_PROXY=" + http + "\nexport ALL_PROXY=" + socks +
         "\nexport no_proxy=localhost,127.0.0.1,::1\nexport NO_PROXY=localhost,127.0.0.1,::1\n" + mode;
}

}  // namespace ferry::agent

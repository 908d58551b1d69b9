#include "relay/enroll_command.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "common/config/relay_config.hpp"
#include "common/crypto/keys.hpp"
#include "relay/policy_hooks.hpp"

namespace ferry::relay {
namespace {

// Writes `text` to `path` with the mode and, when `like` is given, the owner and group of the file it
// replaces: a relay.toml kept as root:ferry-relay 0640 must stay readable by the service after a
// rename, which would otherwise leave it owned by whoever ran enroll.
bool write_file(const std::string& path, const std::string& text, mode_t mode, const struct stat* like) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return false;
  bool ok = (!like || ::fchown(fd, like->st_uid, like->st_gid) == 0) && ::fchmod(fd, mode) == 0 &&
            ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = ::fsync(fd) == 0 && ok;
  return (::close(fd) == 0) && ok;
}

}  // namespace

int enroll_command(const std::string& path, const std::string& name, const std::string& pubkey) {
  if (path.empty() || name.empty() || pubkey.empty()) {
    std::fprintf(stderr, "enroll needs --config relay.toml --name NAME --pubkey KEY\n");
    return 2;
  }
  config::RelayConfig cfg;
  if (auto err = config::load_relay_config(path, cfg, rule_check())) {
    std::fprintf(stderr, "%s\n", err->to_string().c_str());
    return 2;
  }
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  std::string updated = text.str();
  if (!updated.empty() && updated.back() != '\n') updated += '\n';
  // The name and key are checked by loading the result below: the same rules as any relay.toml.
  updated += "\n[[agents]]\nname = \"" + name + "\"\npublic_key = \"" + pubkey + "\"\n";
  struct stat st {};
  const bool existed = ::stat(path.c_str(), &st) == 0;
  const mode_t mode = existed ? (st.st_mode & 07777) : 0640;
  const std::string scratch = path + ".enroll";
  if (!write_file(scratch, updated, mode, existed ? &st : nullptr)) {
    std::perror(scratch.c_str());
    ::unlink(scratch.c_str());
    return 1;
  }
  config::RelayConfig next;
  if (auto err = config::load_relay_config(scratch, next, rule_check())) {
    ::unlink(scratch.c_str());
    err->file = path;  // report against the file the user named; the line is where the entry would go
    std::fprintf(stderr, "not enrolled: %s\n", err->to_string().c_str());
    return 2;
  }
  if (::rename(scratch.c_str(), path.c_str()) != 0) {
    ::unlink(scratch.c_str());
    return std::perror(path.c_str()), 1;
  }
  std::string relay_key = "(ferry-relay pubkey --key " + cfg.private_key_file + ")";
  if (auto key = crypto::read_key_file(cfg.private_key_file)) relay_key = key->public_key().to_base64();
  std::string address = cfg.listen;
  const bool wildcard = address.rfind("0.0.0.0:", 0) == 0 || address.rfind("[::]:", 0) == 0;
  if (wildcard) address = "RELAY_HOST" + address.substr(address.rfind(':'));
  std::printf("enrolled \"%s\" in %s; reload the relay (kill -HUP, or systemctl reload ferry-relay)\n",
              name.c_str(), path.c_str());
  std::printf("\nfor the agent (ferry-agent init --relay %s --relay-key %s), or in agent.toml:\n",
              address.c_str(), relay_key.c_str());
  std::printf("[relay]\naddress = \"%s\"%s\npublic_key = \"%s\"\n", address.c_str(),
              wildcard ? "   # the name or address agents use to reach this relay" : "", relay_key.c_str());
  return 0;
}

}  // namespace ferry::relay

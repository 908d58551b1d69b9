#include "relay/enroll_command.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/config/relay_config.hpp"
#include "common/crypto/keys.hpp"
#include "relay/policy_hooks.hpp"

namespace ferry::relay {
namespace {

// Writes `text` to a new file beside `path` (mkstemp: never an existing file or a planted symlink) with
// the mode and, when `like` is given, the owner and group of the file it replaces: a relay.toml kept
// as root:ferry-relay 0640 must stay readable by the service after the rename, which would otherwise
// leave it owned by whoever ran enroll. Returns the new file's name, or "" (errno set).
std::string write_scratch(const std::string& path, const std::string& text, mode_t mode,
                          const struct stat* like) {
  std::string scratch = path + ".enroll.XXXXXX";
  const int fd = ::mkstemp(scratch.data());
  if (fd < 0) return {};
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  bool ok = (!like || ::fchown(fd, like->st_uid, like->st_gid) == 0) && ::fchmod(fd, mode) == 0 &&
            ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = ::fsync(fd) == 0 && ok;
  ok = ::close(fd) == 0 && ok;
  if (ok) return scratch;
  const int e = errno;
  ::unlink(scratch.c_str());
  errno = e;
  return {};
}

}  // namespace

int enroll_command(const std::string& path, const std::string& name, const std::string& pubkey) {
  if (path.empty() || name.empty() || pubkey.empty()) {
    std::fprintf(stderr, "enroll needs --config relay.toml --name NAME --pubkey KEY\n");
    return 2;
  }
  // Checked before they go into the file: the text is spliced into TOML, so a quote or a backslash
  // in either could add keys of its own to the new entry.
  if (!config::valid_agent_name(name) || name.find('\\') != std::string::npos) {
    std::fprintf(stderr, "--name: must be 1 to 64 printable characters, no spaces, quotes or backslashes\n");
    return 2;
  }
  const auto key = crypto::PublicKey::from_base64(pubkey);
  if (!key) {
    std::fprintf(stderr, "--pubkey: not a public_key: %s\n", key.error().what);
    return 2;
  }
  config::RelayConfig cfg;
  if (auto err = config::load_relay_config(path, cfg, rule_check())) {
    std::fprintf(stderr, "%s\n", err->to_string().c_str());
    return 2;
  }
  // Across relay.toml and every agents_file, before anything is written.
  for (const config::AgentEntry& a : cfg.agents) {
    if (a.name == name)
      return std::fprintf(stderr, "not enrolled: \"%s\" is listed twice (it is enrolled already)\n",
                          name.c_str()),
             2;
    if (a.public_key == *key)
      return std::fprintf(stderr, "not enrolled: the same key is listed for \"%s\" already\n",
                          a.name.c_str()),
             2;
  }
  // Where the entry goes: relay.toml; the agents_file; or, for a directory, a file of its own.
  std::error_code ec;
  const bool into_directory = !cfg.agents_file.empty() && std::filesystem::is_directory(cfg.agents_file, ec);
  const std::string dest = cfg.agents_file.empty() ? path
                           : into_directory        ? cfg.agents_file + "/" + name + ".toml"
                                                   : cfg.agents_file;
  // The name becomes a file name there: nothing that leaves the directory or hides from the loader.
  if (into_directory && (name.find('/') != std::string::npos || name.front() == '.'))
    return std::fprintf(
               stderr,
               "--name: in an agents_file directory it becomes NAME.toml: no '/' and no leading '.'\n"),
           2;
  if (into_directory && std::filesystem::exists(dest, ec))
    return std::fprintf(stderr, "not enrolled: %s exists already\n", dest.c_str()), 2;
  std::string updated;
  if (!into_directory) {
    std::ifstream in(dest);
    std::stringstream text;
    text << in.rdbuf();
    updated = text.str();
    if (!updated.empty() && updated.back() != '\n') updated += '\n';
    updated += '\n';
  }
  updated += "[[agents]]\nname = \"" + name + "\"\npublic_key = \"" + key->to_base64() + "\"\n";
  // A new file in agents.d takes relay.toml's owner, group and mode: the service reads both alike.
  struct stat st {};
  const bool existed = ::stat(into_directory ? path.c_str() : dest.c_str(), &st) == 0;
  const mode_t mode = existed ? (st.st_mode & 07777) : 0640;
  const std::string scratch = write_scratch(dest, updated, mode, existed ? &st : nullptr);
  if (scratch.empty()) {
    std::perror((dest + ".enroll").c_str());
    return 1;
  }
  if (dest == path) {
    // Loading the result checks the entry by the same rules as any relay.toml.
    config::RelayConfig next;
    if (auto err = config::load_relay_config(scratch, next, rule_check())) {
      ::unlink(scratch.c_str());
      err->file = path;  // report against the file the user named; the line is where the entry would go
      std::fprintf(stderr, "not enrolled: %s\n", err->to_string().c_str());
      return 2;
    }
  }
  if (::rename(scratch.c_str(), dest.c_str()) != 0) {
    ::unlink(scratch.c_str());
    return std::perror(dest.c_str()), 1;
  }
  std::string relay_key = "(ferry-relay pubkey --key " + cfg.private_key_file + ")";
  if (auto own = crypto::read_key_file(cfg.private_key_file)) relay_key = own->public_key().to_base64();
  std::string address = cfg.listen;
  const bool wildcard = address.rfind("0.0.0.0:", 0) == 0 || address.rfind("[::]:", 0) == 0;
  if (wildcard) address = "RELAY_HOST" + address.substr(address.rfind(':'));
  std::printf("enrolled \"%s\" in %s; reload the relay (kill -HUP, or systemctl reload ferry-relay)%s\n",
              name.c_str(), dest.c_str(),
              dest == path ? "" : ", and every relay that shares this file once it has the new copy");
  std::printf("\nfor the agent (ferry-agent init --relay %s --relay-key %s), or in agent.toml:\n",
              address.c_str(), relay_key.c_str());
  std::printf("[relay]\naddress = \"%s\"%s\npublic_key = \"%s\"\n", address.c_str(),
              wildcard ? "   # the name or address agents use to reach this relay" : "", relay_key.c_str());
  return 0;
}

}  // namespace ferry::relay

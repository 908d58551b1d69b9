// What `ferry-agent env` prints: lines that point clients at the agent, and that leave the [auth]
// password out of every file they would write.
#include "agent/setup_commands.hpp"

#include <catch2/catch.hpp>

using namespace ferry;

namespace {

config::AgentConfig two_ports() {
  config::AgentConfig cfg;
  cfg.http_listen = "127.0.0.1:8080";
  cfg.socks_listen = "127.0.0.1:1080";
  return cfg;
}

}  // namespace

TEST_CASE("env --git: the proxy without credentials", "[agent][setup]") {
  CHECK(agent::env_text(two_ports(), true, false) ==
        "git config --global http.proxy socks5h://127.0.0.1:1080\n");
}

TEST_CASE("env --git with [auth]: the password stays out of git's config file", "[agent][setup]") {
  auto cfg = two_ports();
  cfg.auth = true;
  cfg.username = "me@home";
  cfg.password = "s3cr#t";
  const std::string git = agent::env_text(cfg, true, false);
  CHECK(git.find("s3cr") == std::string::npos);
  // The user alone: git then asks its credential helper (or the terminal) for the proxy's password.
  CHECK_THAT(git, Catch::EndsWith("\ngit config --global http.proxy socks5h://me%40home@127.0.0.1:1080\n"));
  CHECK_THAT(git, Catch::Contains("credential.helper"));
  std::size_t commands = 0;
  for (std::size_t at = 0; at < git.size(); at = git.find('\n', at) + 1)
    if (git[at] != '#') ++commands;
  CHECK(commands == 1);  // everything else is a comment, safe to paste

  // The shell lines are environment variables of the shell that evals them: they carry the password,
  // as curl and git need it there, and write no file.
  const std::string shell = agent::env_text(cfg, false, false);
  CHECK_THAT(shell, Catch::Contains("export ALL_PROXY=socks5h://me%40home:s3cr%23t@127.0.0.1:1080\n"));
}

TEST_CASE("env says which mode is on, last, so that an unquoted eval still runs every export",
          "[agent][setup][routes]") {
  auto cfg = two_ports();
  const std::string all = agent::env_text(cfg, false, false);
  CHECK_THAT(all, Catch::EndsWith("\n# everything goes through the office's relay ([routes] direct_outside = "
                                  "true: only the office's routes)\n"));
  CHECK(all.find("export https_proxy=http://127.0.0.1:8080\n") < all.find('#'));
  cfg.direct_outside = true;
  const std::string split = agent::env_text(cfg, false, false);
  CHECK_THAT(split,
             Catch::EndsWith("\n# split mode ([routes] direct_outside): the office's routes go through "
                             "the relay, everything else straight from this computer\n"));
  CHECK(split.substr(0, split.find('#')) == all.substr(0, all.find('#')));  // the same exports
}

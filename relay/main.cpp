// ferry-relay: admits listed agents, enforces the destination policy, dials from the egress address.

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include "common/cli_args.hpp"
#include "common/config/relay_config.hpp"
#include "common/key_commands.hpp"
#include "common/log.hpp"
#include "common/program_start.hpp"
#include "common/uv/handle.hpp"
#include "common/uv/loop.hpp"
#include "relay/admin_server.hpp"
#include "relay/enroll_command.hpp"
#include "relay/policy_hooks.hpp"
#include "relay/relay_server.hpp"

using namespace ferry;

namespace {

constexpr const char* kUsage =
    "usage:\n"
    "  ferry-relay --config relay.toml          run the relay (foreground; logs to stderr)\n"
    "  ferry-relay keygen --out relay.key       write a new private key (mode 0600), print its public key\n"
    "  ferry-relay pubkey --key relay.key       print the public key of a private key file\n"
    "  ferry-relay check --config relay.toml    validate a config and exit\n"
    "  ferry-relay enroll --config relay.toml --name NAME --pubkey KEY\n"
    "                                           add an agent to relay.toml and print the agent's settings\n"
    "  ferry-relay --help | --version\n"
    "exit codes: 0 success, 1 runtime failure, 2 usage or configuration error\n";

int load(const std::string& path, config::RelayConfig& cfg) {
  if (path.empty()) {
    std::fprintf(stderr, "--config FILE is required\n%s", kUsage);
    return 2;
  }
  if (auto err = config::load_relay_config(path, cfg, relay::rule_check())) {
    std::fprintf(stderr, "%s\n", err->to_string().c_str());
    return 2;
  }
  return 0;
}

// workers = 0 means one per core where the kernel spreads new connections over listeners that share
// a port (SO_REUSEPORT on Linux). macOS accepts SO_REUSEPORT but hands every connection to one of
// the sockets, so further workers would only sit idle: there, 0 means one.
unsigned default_workers() {
#ifdef __linux__
  return std::max(1u, std::thread::hardware_concurrency());
#else
  return 1;
#endif
}

// Runs one RelayServer per worker thread; worker 0 (this thread) binds first, so a port of 0 becomes
// one real port that the others then share (SO_REUSEPORT). Worker 0 also serves the admin endpoint.
int run(const std::string& path) {
  config::RelayConfig cfg;
  if (int rc = load(path, cfg)) return rc;
  auto key = load_private_key(path, cfg.private_key_file);
  if (!key) return 2;
  const unsigned workers = cfg.workers > 0 ? static_cast<unsigned>(cfg.workers) : default_workers();
  relay::RelayShared shared(cfg, workers);
  if (!shared.audit.open(cfg.audit_log)) {
    std::fprintf(stderr, "%s: audit_log: cannot open %s: %s\n", path.c_str(), cfg.audit_log.c_str(),
                 std::strerror(errno));
    return 2;
  }
  if (cfg.link_ciphers && cfg.link_ciphers->contains(crypto::CipherSuite::AesGcm) &&
      !crypto::aes_gcm_accelerated())
    log::warn("relay",
              "link_ciphers includes aes-256-gcm, but this CPU has no AES instructions: it will be slow "
              "and its software fallback is not constant-time");
  log::info("relay", "public key " + key->public_key().to_base64() + ", " +
                         std::to_string(cfg.agents.size()) + " agents listed, " + std::to_string(workers) +
                         " workers, link ciphers " + crypto::describe_suites(config::link_suites(cfg)));
  // Name lookups run on libuv's thread pool, shared by every worker: with its default 4 threads, a
  // few lookups that hang on a dead name server would stall every agent's dials. Each link may hold
  // at most LinkHandler::kMaxLookups (16) of the threads, and an agent kMaxAgentLookups (32) across
  // its links, those that closed included: one agent takes at most an eighth of them.
  ::setenv("UV_THREADPOOL_SIZE", "256", 0);  // before the pool starts; an operator's value wins
  // The name the policy checked must be the name resolved: with resolv.conf's `search corp.example`,
  // glibc would turn a request for "secret" into "secret.corp.example", past a rule that denies that
  // name. An empty LOCALDOMAIN replaces the search list with nothing (before the resolver first reads
  // its configuration). A trailing dot would do the same for DNS, but glibc's hosts file does not
  // match "name." against "name", and /etc/hosts names must keep working.
  ::setenv("LOCALDOMAIN", "", 1);
  // Every lookup ends within a few seconds, whatever the name servers do: each query gets 2 s and
  // one retry (glibc's default is 5 s and two), so a server that never answers frees its pool thread
  // well inside the dial timeout. An operator's RES_OPTIONS wins.
  ::setenv("RES_OPTIONS", "timeout:2 attempts:2", 0);
  uv::Loop loop;
  int rc = 0;
  std::vector<std::thread> threads;
  {
    // The admin endpoint stays until the last worker has drained, not only worker 0: GET /health
    // answers 503 for as long as any stream is finishing, and a load balancer keeps seeing it.
    uv::HandleGroup admin_handles;
    uv::Handle<uv_async_t> all_stopped{admin_handles};
    std::atomic<unsigned> running{1};  // worker 0; each thread adds itself before it starts
    relay::RelayServer first(loop.get(), 0, cfg, *key, shared);
    relay::AdminServer admin(loop.get(), shared.metrics, shared.placement,
                             [&first] { return first.draining(); });
    std::function<void()> on_all_stopped = [&admin, &all_stopped] {
      admin.stop([] {});
      all_stopped.close();
    };
    all_stopped.init(uv_async_init, loop.get(), &on_all_stopped,
                     [](uv_async_t* a) { (*static_cast<std::function<void()>*>(a->data))(); });
    const auto worker_stopped = [&running, &all_stopped] {
      if (--running == 0) uv_async_send(all_stopped.get());
    };
    first.on_stopped(worker_stopped);
    if (auto r = first.start(cfg.listen, false, true); !r) {
      log::error("relay", "cannot listen on " + cfg.listen + ": " + describe(r.error()));
      rc = 1;
      first.stop();  // close what was opened; the loop below then ends
      loop.run();
    } else if (auto a = cfg.admin_listen.empty() ? Result<void>() : admin.start(cfg.admin_listen); !a) {
      log::error("relay", "cannot listen on admin_listen " + cfg.admin_listen + ": " + describe(a.error()));
      rc = 1;
      first.stop();
      loop.run();
    } else {
      const std::string bound = first.local_address();
      // "listening on" once every worker listens and takes part in placement: a link that came
      // earlier would stay on the first worker.
      std::latch started(workers - 1);
      for (unsigned i = 1; i < workers; ++i) {
        ++running;
        threads.emplace_back([&, bound, i] {
          uv::Loop worker_loop;
          {
            relay::RelayServer server(worker_loop.get(), i, cfg, *key, shared);
            server.on_stopped(worker_stopped);
            if (auto w = server.start(bound, false, false); !w) {
              log::error("relay", "worker cannot listen: " + describe(w.error()));
              server.stop();  // close what was opened before the server goes
            }
            started.count_down();
            worker_loop.run();
          }
          uv_run(worker_loop.get(), UV_RUN_DEFAULT);
        });
      }
      started.wait();
      log::info("relay", "listening on " + bound);
      loop.run();
    }
  }
  uv_run(loop.get(), UV_RUN_DEFAULT);  // let the last close callbacks run
  for (auto& t : threads) t.join();
  log::info("relay", "stopped");  // once, when every worker has finished
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  ignore_sigpipe();  // first: a client that vanishes mid-write must cost one stream, not the process
  CliArgs a;
  if (auto done =
          start_program("ferry-relay", kUsage, argc, argv, {"keygen", "pubkey", "check", "enroll"}, a))
    return *done;
  if (a.command == "enroll") return relay::enroll_command(a.config, a.name, a.pubkey);
  if (a.command == "check") {
    config::RelayConfig cfg;
    if (int rc = load(a.config, cfg)) return rc;
    std::printf("%s: OK (%zu agents, %zu policy rules, link ciphers %s)\n", a.config.c_str(),
                cfg.agents.size(), cfg.policy_rules.size(),
                crypto::describe_suites(config::link_suites(cfg)).c_str());
    return 0;
  }
  return run(a.config);
}

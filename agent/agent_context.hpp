// What every client session of the agent shares: the loop, the link, the local auth settings.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <string>

#include "agent/recent_refusals.hpp"
#include "agent/relay_set.hpp"
#include "agent/warm_targets.hpp"
#include "common/config/agent_config.hpp"
#include "common/net/lookup_slots.hpp"

namespace ferry::agent {

struct AgentContext {
  uv_loop_t* loop = nullptr;
  RelaySet* links = nullptr;  // agent.toml's relays, each a pool of links; new streams go to one
  const config::AgentConfig* config = nullptr;
  // A client that has not finished its SOCKS or HTTP handshake after this long is closed.
  std::uint64_t handshake_timeout_ms = 10'000;
  // SIGTERM/SIGINT came: streams already open run on, new ones are refused ("the agent is stopping").
  bool draining = false;
  // The JSON of GET /status, and the page of GET / (status_page.hpp).
  std::function<std::string()> status_json;
  std::function<std::string()> status_html;
  std::function<std::string()> proxy_pac;
  // Split mode ([routes] direct_outside): true when a stream to `target` is dialled from this
  // computer instead of through the relay (split_routing.hpp). Unset: everything goes through it.
  std::function<bool(const Target&)> goes_direct;
  // The name lookups of direct dials, together (the relay's name is looked up on the same threads).
  std::shared_ptr<net::LookupSlots> direct_lookups = std::make_shared<net::LookupSlots>(8);
  // Streams the relay refused lately, for the status page.
  RecentRefusals refusals;
  // Early reply (docs/spec.md 6.11): targets the relay connected lately, under the routes version it
  // pushes now (0: none yet), and how many clients were answered before the relay.
  WarmTargets warm;
  std::uint32_t routes_version = 0;
  std::uint64_t early_replies = 0;
  std::uint64_t early_refused = 0;  // of those, the relay then refused (the client was closed)
};

}  // namespace ferry::agent

// GET / on the agent's HTTP port: the status a person reads (GET /status stays the JSON a program
// reads). One self-contained HTML page: no external resource, no script; it reloads itself every
// kRefreshS seconds with <meta http-equiv="refresh">. Every text that came from a client, a target
// or the relay is escaped, since a host name is whatever a client sent.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "agent/egress_check.hpp"
#include "agent/link_client.hpp"
#include "agent/recent_refusals.hpp"
#include "agent/stream_snapshot.hpp"

namespace ferry::agent {

struct StatusView {
  bool draining = false;
  std::uint64_t uptime_s = 0;
  std::string relay;
  std::vector<LinkStatus> links;
  std::vector<StreamSnapshot> streams;  // at most kMaxStreamsShown of them
  std::size_t streams_total = 0;        // all open ones
  std::deque<Refusal> refusals;         // newest first
  bool egress_configured = false;
  EgressReport egress;
  std::int64_t now_unix_s = 0;
};

inline constexpr int kRefreshS = 2;
// A page of 20,000 connections would be megabytes to rebuild every two seconds; the oldest are shown.
inline constexpr std::size_t kMaxStreamsShown = 200;

[[nodiscard]] std::string render_status_page(const StatusView& v);
// &, <, >, " and ' as entities; control bytes and bytes outside ASCII as '?'.
[[nodiscard]] std::string html_escape(std::string_view text);
// "3 s", "4 min 5 s", "2 h 3 min".
[[nodiscard]] std::string format_age(std::uint64_t seconds);

}  // namespace ferry::agent

// Split mode's one decision (agent.toml `[routes] direct_outside = true`): does a stream go through
// the office, or directly from this computer?
//
//   split mode off                            through the office (the default: everything is)
//   no routes pushed by the relay yet         through the office: it fails closed, so an office name
//                                             never leaks out while the list is unknown (a relay
//                                             that pushes none, version 1, keeps split mode off)
//   the target is listed (relay or own)       through the office
//   anything else                             directly
//
// A target is listed by name or by address literal, as the PAC decides (routes::routes_through):
// the agent resolves nothing to decide.
#pragma once

#include <vector>

#include "common/routes/route_list.hpp"

namespace ferry::agent {

bool goes_direct(bool direct_outside, const routes::RouteList& relay, const std::vector<routes::Route>& own,
                 const Target& target);

}  // namespace ferry::agent

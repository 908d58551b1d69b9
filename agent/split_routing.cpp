#include "agent/split_routing.hpp"

namespace ferry::agent {

bool goes_direct(bool direct_outside, const routes::RouteList& relay, const std::vector<routes::Route>& own,
                 const Target& target) {
  if (!direct_outside || relay.version == 0) return false;
  return !routes::routes_through(relay.routes, target) && !routes::routes_through(own, target);
}

}  // namespace ferry::agent

// The addresses of this host's own interfaces: the named set `self`. With `allow *`, a stream to the
// relay host's LAN or egress address would reach sshd and anything else bound to 0.0.0.0 there, so
// the built-in rules deny `self` as they deny loopback (an address rule may still allow one).
//
// The relay fills it at start and keeps it current (interfaces come and go); every worker reads it
// on each address check. Thread-safe.
#pragma once

#include <vector>

#include "common/policy/address.hpp"

namespace ferry::policy {

// Replaces the set (normalised addresses; duplicates are harmless).
void set_local_addresses(std::vector<Address> addresses);
bool is_local_address(const Address& a);

}  // namespace ferry::policy

// Small pieces the SOCKS and HTTP front ends share: the local credentials check and the plain words
// that tell a user why a connection failed.
#pragma once

#include <string>

#include "common/codec/http1_head.hpp"
#include "common/codec/link_frame.hpp"
#include "common/config/agent_config.hpp"

namespace ferry::agent {

// Constant-time comparison: a timing difference must not reveal how much of a password was right.
bool credentials_match(const config::AgentConfig& c, const std::string& user, const std::string& pass);
// [auth] unset, or Proxy-Authorization: Basic with the configured username and password.
bool http_authorised(const config::AgentConfig& c, const http1::RequestHead& head);
// "ferry could not reach db.internal:5432: name not resolved (the relay cannot resolve ...)."
std::string explain(const frame::OpenResult& r, const Target& target);

}  // namespace ferry::agent

#include "agent/proxy_words.hpp"

#include <sodium.h>

#include "common/codec/http1_auth.hpp"

namespace ferry::agent {

bool credentials_match(const config::AgentConfig& c, const std::string& user, const std::string& pass) {
  return user.size() == c.username.size() && pass.size() == c.password.size() &&
         sodium_memcmp(user.data(), c.username.data(), c.username.size()) == 0 &&
         sodium_memcmp(pass.data(), c.password.data(), c.password.size()) == 0;
}

bool http_authorised(const config::AgentConfig& c, const http1::RequestHead& head) {
  if (!c.auth) return true;
  auto creds = http1::proxy_credentials(head);
  return creds && *creds && credentials_match(c, (*creds)->user, (*creds)->pass);
}

std::string explain(const frame::OpenResult& r, const Target& target) {
  std::string s = "ferry could not reach " + target.to_string() + ": " + frame::open_code_name(r.code);
  if (!r.reason.empty()) s += " (" + r.reason + ")";
  return s + ".\n";
}

}  // namespace ferry::agent

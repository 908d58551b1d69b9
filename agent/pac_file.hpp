// GET /proxy.pac: the routes as a proxy auto-config file (a JavaScript FindProxyForURL) that browsers
// and operating systems evaluate for every URL. Sans-I/O: routes in, the file's text out.
//
//   a listed name, or a name below a "*." route   -> "PROXY 127.0.0.1:<http>; SOCKS5 127.0.0.1:<socks>"
//   an IP literal inside a listed network          -> the same
//   anything else                                  -> "DIRECT"
//
// Fails closed: a listed target never gets DIRECT, even as a fallback, so when the agent is down a
// browser shows an error for it instead of sending office traffic to the open internet. Networks match
// IP literals only: the file never calls dnsResolve() or isInNet() on a name, since office-only names
// do not resolve on the laptop (and a resolver there is not the office's). Names compare in lower case,
// without a final dot.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/routes/route_list.hpp"

namespace ferry::agent {

// `proxy` is the PAC result for a listed target, e.g. "PROXY 127.0.0.1:8080; SOCKS5 127.0.0.1:1080";
// `version` names the relay's list in a comment.
std::string pac_file(const std::vector<routes::Route>& routes, const std::string& proxy,
                     std::uint32_t version);

// The PAC result for this agent's ports: its HTTP port, then its SOCKS port (either may be absent).
std::string pac_proxy(const std::string& http_hostport, const std::string& socks_hostport);

}  // namespace ferry::agent

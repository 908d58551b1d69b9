// Which Host a local page (GET /status, the "this is ferry's proxy port" 404) answers. DNS
// rebinding: a web page whose attacker re-points its name at 127.0.0.1 can make the victim's browser
// request http://evil.example:8080/status from the agent's port and read the answer, because to the
// browser it is the page's own origin. The Host it sends is the page's name, and no script can
// change that, so a local page answers only a Host that names the port the client connected to.
#pragma once

#include <sys/socket.h>

#include <string>
#include <string_view>

namespace ferry::agent {

// True when `host` (a Host field value) is "127.0.0.1:PORT", "localhost:PORT", "[::1]:PORT" or
// the address of `local` itself, where `local` is the listener's address that the client connected to
// (getsockname) and PORT its port. The port is required, so that Host names this listener exactly
// (curl and `ferry-agent status` send it). Names compare case-insensitively.
[[nodiscard]] bool host_names_listener(std::string_view host, const sockaddr* local);

// "127.0.0.1:PORT or localhost:PORT", for the text of the refusal.
[[nodiscard]] std::string listener_host_hint(const sockaddr* local);

}  // namespace ferry::agent

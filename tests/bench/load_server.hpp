// bench_load's target server: the far end of every benchmark connection (see load_common.hpp for
// the request header it serves).
#pragma once

#include <string>

namespace ferry::bench {

// Serves `listen` ("IPv4:PORT", port 0 for any) and the `ports` - 1 ports after it with `threads`
// epoll loops sharing the listening sockets, prints "listening on ADDR (N ports)" on stdout, and runs
// until the process is killed. Returns only on a setup error (exit status 1 or 2).
int run_server(const std::string& listen, int threads, int ports = 1);

}  // namespace ferry::bench

// bench_load's target server: the far end of every benchmark connection (see load_common.hpp for
// the request header it serves).
#pragma once

#include <string>

namespace ferry::bench {

// Serves `listen` ("IPv4:PORT", port 0 for any) with `threads` epoll loops sharing one listening
// socket, prints "listening on ADDR" on stdout, and runs until the process is killed. Returns only
// on a setup error (exit status 1).
int run_server(const std::string& listen, int threads);

}  // namespace ferry::bench

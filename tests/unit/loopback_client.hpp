// A plain blocking TCP client for loop tests whose loop runs on another thread: it plays the local
// application (curl, a browser, a slowloris) against a port on 127.0.0.1. Every call has a deadline,
// so a test that goes wrong fails instead of hanging.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

namespace ferry::test {

using namespace std::chrono_literals;

class LoopbackClient {
 public:
  // How a read ended.
  enum class End { Eof, Reset, Timeout };

  // Connects to 127.0.0.1:port. A non-zero `rcvbuf` sets SO_RCVBUF first, so the client holds only
  // that much unread: the proxy then has to queue what the client does not read.
  explicit LoopbackClient(int port, int rcvbuf = 0);
  ~LoopbackClient();
  LoopbackClient(const LoopbackClient&) = delete;
  LoopbackClient& operator=(const LoopbackClient&) = delete;

  // Sends every byte; false when the peer is gone or `timeout` passed with the peer not reading.
  bool send(std::string_view bytes, std::chrono::milliseconds timeout = 5s);
  void shutdown_write();
  // Reads until `needle` has arrived (true), or the connection ends or the timeout passes (false).
  // What was read is in received().
  bool read_until(std::string_view needle, std::chrono::milliseconds timeout = 5s);
  // Reads until `done(everything received so far)` holds.
  bool read_until(const std::function<bool(const std::string&)>& done,
                  std::chrono::milliseconds timeout = 5s);
  // Reads until `n` bytes in all have arrived.
  bool read_bytes(std::size_t n, std::chrono::milliseconds timeout = 5s);
  // Reads until the connection ends or the timeout passes.
  End read_to_end(std::chrono::milliseconds timeout = 5s);
  // True once the peer has closed (EOF or RST) within `timeout`; bytes read meanwhile are kept.
  bool closed_within(std::chrono::milliseconds timeout);

  const std::string& received() const noexcept { return received_; }
  // Forgets what was read so far (the next exchange on a keep-alive connection starts clean).
  std::string take_received();
  int fd() const noexcept { return fd_; }

 private:
  // One read of whatever is there, waiting at most `timeout`. Returns false when the connection
  // ended (end_ says how) or nothing came in time.
  bool read_some(std::chrono::milliseconds timeout);

  int fd_ = -1;
  std::string received_;
  End end_ = End::Timeout;
  bool ended_ = false;
};

}  // namespace ferry::test

// Moves bytes both ways between a client's socket and a DirectStream (split mode: SOCKS and CONNECT
// to a target outside the routes), as uv::SocketPipe does between a socket and a link stream:
//
//   client --raw read--> DirectStream::send; the client is paused while the target's socket has
//          DirectStream::kHighWater bytes waiting, resumed on writable
//   target --on_data--> written to the client; DirectStream::consumed once the kernel took them, so
//          a slow client slows only its own target
//
// Half-closes pass through (an EOF becomes the other side's FIN). A reset, or a read error, on
// either side resets the other. The client's socket is the session's (ClientSession), and outlives
// the pipe; the pipe owns the stream and lets it go with itself.
#pragma once

#include "agent/direct_stream.hpp"
#include "common/uv/tcp_connection.hpp"

namespace ferry::agent {

class DirectPipe final : public link::StreamHandler {
 public:
  struct Counters {
    std::uint64_t to_target = 0;    // bytes read from the client
    std::uint64_t from_target = 0;  // bytes written to the client
  };

  // Takes the connected stream; `early` are bytes the client sent behind its request.
  DirectPipe(uv::TcpConnection& client, DirectStream::Ptr stream, ByteSpan early);
  // Reads the client from now on; `client_eof`: it half-closed already.
  void start(bool client_eof);
  // The client's connection is gone: the stream goes, in order when both ways ended with a FIN.
  void end(bool clean);

  const Counters& counters() const noexcept { return counters_; }

  void on_data(ByteSpan bytes) override;
  void on_fin() override;
  void on_reset(frame::ResetCode code) override;
  void on_writable() override;

 private:
  void on_client_bytes(ByteSpan bytes);

  uv::TcpConnection& client_;
  DirectStream::Ptr stream_;
  Counters counters_;
};

}  // namespace ferry::agent

// Helpers shared by the unit tests: hex, deterministic bytes, a scratch directory.
#pragma once

#include <netinet/in.h>

#include <string>
#include <string_view>

#include "common/codec/byte_reader.hpp"
#include "common/crypto/keys.hpp"

namespace ferry::test {

Bytes hex(std::string_view h);
std::string to_hex(ByteSpan b);
crypto::SecretKey secret_from_hex(std::string_view h);
// Bytes that depend on (seed, offset) only, so a receiver can check any slice without a copy.
void pattern(std::uint64_t seed, std::uint64_t offset, MutByteSpan out);
// Bytes as text, for comparing what a client received.
std::string text(const Bytes& b);
// A SOCKS5 greeting without authentication, then a CONNECT to host:port by name.
std::string socks5_connect(const std::string& host, std::uint16_t port);
// A listening TCP socket on 127.0.0.1 with a port the kernel chose; `bound` is its address.
int listen_on_loopback(int backlog, sockaddr_in& bound);
// A fresh directory under $TMPDIR, removed by the destructor.
struct TempDir {
  TempDir();
  ~TempDir();
  std::string path;
};

}  // namespace ferry::test

#include "tests/unit/test_util.hpp"

#include <arpa/inet.h>
#include <sodium.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <stdexcept>

namespace ferry::test {

Bytes hex(std::string_view h) {
  if (h.empty()) return {};
  Bytes out(h.size() / 2);
  std::size_t len = 0;
  if (sodium_hex2bin(out.data(), out.size(), h.data(), h.size(), nullptr, &len, nullptr) != 0)
    throw std::runtime_error("bad hex");
  out.resize(len);
  return out;
}

std::string to_hex(ByteSpan b) {
  std::string s(b.size() * 2 + 1, '\0');
  sodium_bin2hex(s.data(), s.size(), b.data(), b.size());
  s.pop_back();
  return s;
}

crypto::SecretKey secret_from_hex(std::string_view h) {
  const Bytes b = hex(h);
  if (b.size() != 32) throw std::runtime_error("a key must be 32 bytes");
  std::uint8_t raw[32];
  std::copy(b.begin(), b.end(), raw);
  return crypto::SecretKey::adopt(raw);
}

void pattern(std::uint64_t seed, std::uint64_t offset, MutByteSpan out) {
  // Each 8-byte block of the stream is splitmix64(seed, block index): cheap, and position-keyed, so a
  // reordered, dropped or duplicated byte shows.
  auto block = [seed](std::uint64_t index) {
    std::uint64_t z = seed * 0x9E3779B97F4A7C15ull + index + 1;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  std::size_t i = 0;
  while (i < out.size()) {
    const std::uint64_t pos = offset + i;
    const std::uint64_t z = block(pos >> 3);
    for (unsigned b = static_cast<unsigned>(pos & 7); b < 8 && i < out.size(); ++b, ++i)
      out[i] = static_cast<std::uint8_t>(z >> (8 * b));
  }
}

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "ferry-test-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp");
  path = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

std::string text(const Bytes& b) { return std::string(b.begin(), b.end()); }

std::string socks5_connect(const std::string& host, std::uint16_t port) {
  std::string s("\x05\x01\x00", 3);  // greeting: no authentication
  s += std::string("\x05\x01\x00\x03", 4) + static_cast<char>(host.size()) + host;
  s += static_cast<char>(port >> 8);
  s += static_cast<char>(port & 0xFF);
  return s;
}

int listen_on_loopback(int backlog, sockaddr_in& bound) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  bound = sockaddr_in{};
  bound.sin_family = AF_INET;
  bound.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof bound;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&bound), sizeof bound) == 0);
  REQUIRE(::listen(fd, backlog) == 0);
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len) == 0);
  return fd;
}

}  // namespace ferry::test

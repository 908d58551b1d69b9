#include "common/codec/sniff.hpp"

namespace ferry::sniff {

Protocol sniff(std::uint8_t first_byte) noexcept {
  switch (first_byte) {
    case 0x05:
      return Protocol::Socks5;
    case 0x04:
      return Protocol::Socks4;
    default:
      return Protocol::Http;
  }
}

const char* protocol_name(Protocol p) noexcept {
  switch (p) {
    case Protocol::Socks5:
      return "socks5";
    case Protocol::Socks4:
      return "socks4";
    case Protocol::Http:
      return "http";
  }
  return "unknown";
}

}  // namespace ferry::sniff

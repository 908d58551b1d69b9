// Transport keys for the tests of the parts that seal and open records (key_schedule, outbox,
// link_handshake): fixed keys, a check that two CipherStates pair up, and records opened in order.
#pragma once

#include <catch2/catch.hpp>

#include "common/crypto/handshake_ik.hpp"
#include "common/link/record_codec.hpp"

namespace ferry::test {

// A TransportKeys whose send and receive keys are filled with `send_byte` and `recv_byte`.
inline crypto::TransportKeys transport_keys(std::uint8_t send_byte, std::uint8_t recv_byte) {
  crypto::TransportKeys k;
  std::uint8_t key[32];
  std::fill(std::begin(key), std::end(key), send_byte);
  k.send.initialize_key(key, crypto::CipherSuite::ChaChaPoly);
  std::fill(std::begin(key), std::end(key), recv_byte);
  k.recv.initialize_key(key, crypto::CipherSuite::ChaChaPoly);
  k.handshake_hash.fill(send_byte ^ recv_byte);
  return k;
}

// True when what `from` seals, `to` opens.
inline bool pair_up(crypto::CipherState& from, crypto::CipherState& to) {
  std::uint8_t buf[5 + crypto::kTagBytes] = {'f', 'e', 'r', 'r', 'y'};
  auto n = from.encrypt({}, buf, 5, buf);
  if (!n) return false;
  auto m = to.decrypt({}, buf, *n, buf);
  return m && *m == 5 && buf[0] == 'f';
}

// The records of `wire` (whole records only), each opened with `recv` in turn: their plaintexts.
inline Result<std::vector<Bytes>> open_records(crypto::CipherState& recv, Bytes wire) {
  std::vector<Bytes> plain;
  MutByteSpan in(wire);
  link::RecordReader reader;
  while (!in.empty()) {
    auto body = reader.next(in, link::RecordKind::Transport);
    REQUIRE(body);
    REQUIRE(*body);
    auto opened = link::open_record(**body, recv);
    if (!opened) return opened.error();
    plain.emplace_back(opened->begin(), opened->end());
  }
  return plain;
}

}  // namespace ferry::test

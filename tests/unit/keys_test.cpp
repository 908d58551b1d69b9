#include "common/crypto/keys.hpp"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <type_traits>

#include "tests/unit/test_util.hpp"

using namespace ferry;
using crypto::SecretKey;

template <class T>
concept Printable = requires(std::ostream& o, const T& v) {
  o << v;
};

static_assert(!std::is_copy_constructible_v<SecretKey>, "a secret key must not be copied");
static_assert(!std::is_copy_assignable_v<SecretKey>, "a secret key must not be copied");
static_assert(!Printable<SecretKey>, "a secret key must not be printable");

TEST_CASE("key files: 0600, never overwritten, read back to the same key", "[keys]") {
  test::TempDir dir;
  const std::string path = dir.path + "/agent.key";
  const auto key = SecretKey::generate();
  REQUIRE(crypto::write_new_key_file(path, key));
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  CHECK(line.size() == 44);  // base64 of 32 bytes, one line
  CHECK(line.back() == '=');

  auto again = crypto::write_new_key_file(path, SecretKey::generate());
  REQUIRE_FALSE(again);
  CHECK(again.error().code == Errc::Exists);

  auto back = crypto::read_key_file(path);
  REQUIRE(back);
  CHECK(back->public_key() == key.public_key());
}

TEST_CASE("key files: refused when group or others have any permission on them, or when malformed",
          "[keys]") {
  test::TempDir dir;
  const std::string path = dir.path + "/k";
  REQUIRE(crypto::write_new_key_file(path, SecretKey::generate()));
  // A key its group can read is a key shared with the group; one they can write can be swapped.
  for (const mode_t mode : {0644, 0640, 0604, 0660, 0620, 0602, 0610, 0601}) {
    INFO(std::oct << mode);
    REQUIRE(::chmod(path.c_str(), mode) == 0);
    auto r = crypto::read_key_file(path);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::Config);
  }
  for (const mode_t mode : {0600, 0400, 0700}) {
    INFO(std::oct << mode);
    REQUIRE(::chmod(path.c_str(), mode) == 0);
    CHECK(crypto::read_key_file(path));
  }

  const std::string bad = dir.path + "/bad";
  for (const char* text :
       {"", "not base64!\n", "AAAA\n", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"}) {
    std::filesystem::remove(bad);
    { std::ofstream(bad) << text; }
    ::chmod(bad.c_str(), 0600);
    INFO(text);
    CHECK_FALSE(crypto::read_key_file(bad));
  }
  CHECK_FALSE(crypto::read_key_file(dir.path + "/missing"));
}

TEST_CASE("public keys: base64 round trip, WireGuard's format", "[keys]") {
  // RFC 7748 §6.1: Alice's private key and public key.
  const auto sk = test::secret_from_hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
  const auto pk = sk.public_key();
  CHECK(test::to_hex(pk.bytes) == "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
  const auto text = pk.to_base64();
  CHECK(text == "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=");
  auto back = crypto::PublicKey::from_base64(text + "\n");
  REQUIRE(back);
  CHECK(*back == pk);
  CHECK_FALSE(crypto::PublicKey::from_base64("hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTm=="));
  CHECK_FALSE(crypto::PublicKey::from_base64("hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=x"));
}

TEST_CASE("moving a secret key wipes the source", "[keys]") {
  auto a = SecretKey::generate();
  const auto pub = a.public_key();
  SecretKey b = std::move(a);
  CHECK(b.public_key() == pub);
  const std::uint8_t zeros[32] = {};
  CHECK(std::equal(a.data(), a.data() + 32, zeros));  // NOLINT: reading a moved-from key on purpose
}

// Who may have access to a file that holds a secret, and the fix each refusal names.
#include "common/secret_file.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "common/crypto/keys.hpp"
#include "tests/unit/test_util.hpp"

using namespace ferry;

TEST_CASE("key files: group and others get no permission bit, and the fix is named", "[keys][secret]") {
  const unsigned me = 1000;
  auto refusal = [&](unsigned mode) {
    return key_file_refusal("/k", S_IFREG | mode, me, me, KeyOwner::Self);
  };
  CHECK(refusal(0600).empty());
  CHECK(refusal(0400).empty());
  CHECK(refusal(0700).empty());
  CHECK(refusal(0644) == "readable by group or others (mode 0644); run: chmod 600 /k");
  CHECK(refusal(0640) == "readable by group or others (mode 0640); run: chmod 600 /k");
  CHECK(refusal(0620) == "writable by group or others (mode 0620); run: chmod 600 /k");
  CHECK(refusal(0660) == "readable and writable by group or others (mode 0660); run: chmod 600 /k");
  CHECK(refusal(0601) == "executable by group or others (mode 0601); run: chmod 600 /k");
  CHECK(refusal(0777) ==
        "readable, writable and executable by group or others (mode 0777); run: chmod 600 /k");
}

TEST_CASE("key files: a program's own key belongs to the user it runs as", "[keys][secret]") {
  CHECK(key_file_refusal("/k", S_IFREG | 0600, 65534, 0, KeyOwner::Self) ==
        "owned by uid 65534, not by uid 0 that runs this program; run: chown 0 /k");
  // The owner comes first: only the owner (or root) can chmod the file afterwards.
  CHECK(key_file_refusal("/k", S_IFREG | 0644, 65534, 1000, KeyOwner::Self).rfind("owned by uid 65534", 0) ==
        0);
  // pubkey and enroll: root prints the public half of the relay's key, which the relay's user owns.
  CHECK(key_file_refusal("/k", S_IFREG | 0600, 65534, 0, KeyOwner::Anyone).empty());
  CHECK_FALSE(key_file_refusal("/k", S_IFREG | 0640, 65534, 0, KeyOwner::Anyone).empty());
}

TEST_CASE("a config that holds a password: group and others must not read it", "[config][secret]") {
  CHECK(password_file_refusal("/c", S_IFREG | 0600).empty());
  CHECK(password_file_refusal("/c", S_IFREG | 0620).empty());
  CHECK(password_file_refusal("/c", S_IFREG | 0644) ==
        "holds a password and is readable by group or others (mode 0644); run: chmod 600 /c");
  CHECK_FALSE(password_file_refusal("/c", S_IFREG | 0604).empty());
}

TEST_CASE("the fix survives a paste: paths become one shell word", "[secret]") {
  CHECK(shell_word("/home/me/.config/ferry/agent.key") == "/home/me/.config/ferry/agent.key");
  CHECK(shell_word("/Users/me/Library/Application Support/ferry/agent.key") ==
        "'/Users/me/Library/Application Support/ferry/agent.key'");
  CHECK(shell_word("/tmp/it's") == "'/tmp/it'\\''s'");
  CHECK(shell_word("") == "''");
  CHECK(key_file_refusal("/a b/k", S_IFREG | 0644, 1, 1, KeyOwner::Self) ==
        "readable by group or others (mode 0644); run: chmod 600 '/a b/k'");
}

TEST_CASE("key files on disk: the refusal comes with its sentence; another owner only for Self",
          "[keys][secret]") {
  test::TempDir dir;
  const std::string path = dir.path + "/agent.key";
  REQUIRE(crypto::write_new_key_file(path, crypto::SecretKey::generate()));
  REQUIRE(::chmod(path.c_str(), 0640) == 0);
  std::string why;
  auto r = crypto::read_key_file(path, KeyOwner::Self, &why);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::Config);
  CHECK(why == "readable by group or others (mode 0640); run: chmod 600 " + path);
  REQUIRE(::chmod(path.c_str(), 0600) == 0);
  CHECK(crypto::read_key_file(path, KeyOwner::Self));
  if (::geteuid() != 0) {
    WARN("not root: the key cannot be given to another user here (the rule itself is tested above)");
    return;
  }
  REQUIRE(::chown(path.c_str(), 65534, 65534) == 0);
  why.clear();
  auto other = crypto::read_key_file(path, KeyOwner::Self, &why);
  REQUIRE_FALSE(other);
  CHECK(why == "owned by uid 65534, not by uid 0 that runs this program; run: chown 0 " + path);
  CHECK(crypto::read_key_file(path, KeyOwner::Anyone));
}

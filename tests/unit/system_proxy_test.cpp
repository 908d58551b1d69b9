// The file `ferry-agent system-proxy on` saves and `off` reads back (agent/system_proxy.hpp).
#include "agent/system_proxy.hpp"

#include <catch2/catch.hpp>

using namespace ferry;

TEST_CASE("system-proxy: the saved settings read back exactly, spaces and quotes included",
          "[system-proxy]") {
  const agent::ProxySettings gnome{{"mode", "'manual'"},
                                   {"autoconfig-url", "\"http://old.example/it's.pac\""}};
  auto back = agent::decode_saved(agent::encode_saved("gnome", gnome));
  REQUIRE(back);
  CHECK(back->first == "gnome");
  CHECK(back->second == gnome);
  const agent::ProxySettings mac{{"Wi-Fi", "(null)\tNo"}, {"USB 10/100/1000 LAN", "http://x/p.pac\tYes"}};
  back = agent::decode_saved(agent::encode_saved("macos", mac));
  REQUIRE(back);
  CHECK(back->second == mac);
  CHECK_FALSE(agent::decode_saved("mode 'none'\n"));
  CHECK_FALSE(agent::decode_saved("backend gnome\nmode\n"));  // a key without its value
}

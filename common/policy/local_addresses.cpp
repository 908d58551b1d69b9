#include "common/policy/local_addresses.hpp"

#include <algorithm>
#include <memory>
#include <mutex>

namespace ferry::policy {
namespace {

std::mutex g_mutex;
std::shared_ptr<const std::vector<Address>> g_addresses = std::make_shared<std::vector<Address>>();

}  // namespace

void set_local_addresses(std::vector<Address> addresses) {
  for (auto& a : addresses) a = a.normalised();
  auto next = std::make_shared<const std::vector<Address>>(std::move(addresses));
  std::lock_guard lock(g_mutex);
  g_addresses = std::move(next);
}

bool is_local_address(const Address& a) {
  std::shared_ptr<const std::vector<Address>> now;
  {
    std::lock_guard lock(g_mutex);
    now = g_addresses;
  }
  const Address n = a.normalised();
  return std::find(now->begin(), now->end(), n) != now->end();
}

}  // namespace ferry::policy

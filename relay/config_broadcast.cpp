#include "relay/config_broadcast.hpp"

#include <algorithm>

namespace ferry::relay {

void ConfigBroadcast::subscribe(uv_async_t* wake) {
  std::lock_guard lock(mutex_);
  subscribers_.push_back(wake);
}

void ConfigBroadcast::unsubscribe(uv_async_t* wake) {
  std::lock_guard lock(mutex_);
  std::erase(subscribers_, wake);
}

void ConfigBroadcast::publish(std::shared_ptr<const config::RelayConfig> next) {
  std::lock_guard lock(mutex_);  // held while waking: a subscriber cannot close its handle meanwhile
  latest_ = std::move(next);
  for (uv_async_t* wake : subscribers_) uv_async_send(wake);
}

std::shared_ptr<const config::RelayConfig> ConfigBroadcast::latest() const {
  std::lock_guard lock(mutex_);
  return latest_;
}

}  // namespace ferry::relay

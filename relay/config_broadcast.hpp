// relay.toml must be read once per reload: a worker that read the file half-written while another
// read it whole would split the relay's policy between them. So worker 0 alone acts on SIGHUP,
// reads the file and publishes the result here; the other workers are woken (uv_async) and apply
// what was published.
#pragma once

#include <uv.h>

#include <memory>
#include <mutex>
#include <vector>

#include "common/config/relay_config.hpp"

namespace ferry::relay {

class ConfigBroadcast {
 public:
  // A worker's wake-up handle, initialised on its own loop; unsubscribe before closing it.
  void subscribe(uv_async_t* wake);
  void unsubscribe(uv_async_t* wake);
  // Stores `next` and wakes every subscriber.
  void publish(std::shared_ptr<const config::RelayConfig> next);
  std::shared_ptr<const config::RelayConfig> latest() const;

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const config::RelayConfig> latest_;
  std::vector<uv_async_t*> subscribers_;
};

}  // namespace ferry::relay

#include "agent/relay_set.hpp"

#include "common/log.hpp"

namespace ferry::agent {

RelaySet::RelaySet(uv_loop_t* loop, const config::AgentConfig& cfg, const crypto::SecretKey& key)
    : loop_(loop) {
  for (const config::RelayEntry& r : cfg.relays) {
    auto one = std::make_unique<config::AgentConfig>(cfg);
    one->relay_address = r.address;
    one->relay_key = r.public_key;
    configs_.push_back(std::move(one));
  }
  if (configs_.empty()) configs_.push_back(std::make_unique<config::AgentConfig>(cfg));  // built by hand
  for (std::size_t i = 0; i < configs_.size(); ++i) {
    pools_.push_back(std::make_unique<LinkPool>(loop, *configs_[i], key));
    pools_[i]->on_new_session([this, i] {
      if (i == active_ && on_new_session_) on_new_session_();
    });
    pools_[i]->on_routes([this](const frame::Routes& r) {
      if (on_routes_) on_routes_(r);
    });
    if (i != 0) pools_[i]->set_standby(true);
  }
  rejected_until_.assign(pools_.size(), 0);
  rejected_why_.assign(pools_.size(), {});
  left_why_.assign(pools_.size(), {});
}

void RelaySet::start() {
  for (auto& p : pools_) p->start();  // standby pools make no link
  if (pools_.size() < 2) return;
  tick_.init(uv_timer_init, loop_, this);
  down_since_ = uv_now(loop_);
  uv_timer_start(
      tick_.get(), [](uv_timer_t* t) { static_cast<RelaySet*>(t->data)->tick(); }, kTickMs, kTickMs);
}

void RelaySet::open(const Target& target, link::StreamHandler* handler, std::uint64_t deadline_ms) {
  pools_[active_]->open(target, handler, deadline_ms);
}

void RelaySet::cancel(link::StreamHandler* handler) {
  for (auto& p : pools_) p->cancel(handler);
}

void RelaySet::probe(const std::string& why) {
  for (auto& p : pools_) p->probe(why);
}

// The active relay has had no link up for kFailoverMs: the next one takes over.
void RelaySet::tick() {
  if (stopping_) return;
  const std::uint64_t now = uv_now(loop_);
  if (pools_[active_]->any_up()) {
    down_since_ = 0;
    return;
  }
  if (down_since_ == 0) down_since_ = now;
  if (now - down_since_ < kFailoverMs) return;
  for (std::size_t step = 1; step < pools_.size(); ++step) {
    const std::size_t next = (active_ + step) % pools_.size();
    if (rejected_until_[next] > now) continue;
    const std::string why = pools_[active_]->status().last_error;
    return activate(next, "no link to " + active_address() + " for " + std::to_string(kFailoverMs) + " ms" +
                              (why.empty() ? std::string() : " (" + why + ")"));
  }
}

void RelaySet::activate(std::size_t next, const std::string& why) {
  const std::size_t old = active_;
  left_why_[old] = why;
  left_why_[next].clear();
  active_ = next;
  down_since_ = pools_[next]->any_up() ? 0 : uv_now(loop_);
  log::warn("agent", "relay " + configs_[next]->relay_address + " takes new streams: " + why);
  pools_[next]->set_standby(false);
  pools_[old]->set_standby(true);  // its open and held streams stay; its idle links close
  // Each keeps its deadline: switching relays while all are down must not make a client wait longer.
  pools_[old]->hand_over_waiting(
      [this](const Target& t, link::StreamHandler* h, std::uint64_t deadline) { open(t, h, deadline); });
  // A relay whose link is up already (rare: a resume) reports no new session: check it now.
  if (pools_[next]->any_up() && on_new_session_) on_new_session_();
}

bool RelaySet::reject(std::size_t index, const std::string& why) {
  const std::uint64_t now = uv_now(loop_);
  if (index >= pools_.size()) return false;
  if (index != active_) {  // checked through it, and left meanwhile: not to be used again for a while
    rejected_until_[index] = now + kRejectMs;
    rejected_why_[index] = why;
    return true;
  }
  for (std::size_t step = 1; step < pools_.size(); ++step) {
    const std::size_t next = (active_ + step) % pools_.size();
    if (rejected_until_[next] > now) continue;
    rejected_until_[active_] = now + kRejectMs;
    rejected_why_[active_] = why;
    activate(next, active_address() + " is not used: " + why);
    return true;
  }
  return false;
}

void RelaySet::stop(std::function<void()> done) {
  stopping_ = true;
  tick_.close();
  auto shared_done = std::make_shared<std::function<void()>>(std::move(done));
  for (auto& p : pools_)
    p->stop([this, shared_done] {
      if (++stopped_ == pools_.size() && *shared_done) (*shared_done)();
    });
}

std::vector<RelayState> RelaySet::states() const {
  std::vector<RelayState> out;
  const std::uint64_t now = uv_now(loop_);
  for (std::size_t i = 0; i < pools_.size(); ++i) {
    RelayState s{configs_[i]->relay_address, {}};
    const LinkStatus st = pools_[i]->status();
    if (i == active_)
      s.state = st.state == "up" ? "serving" : "down: " + (st.last_error.empty() ? st.state : st.last_error);
    else if (rejected_until_[i] > now)
      s.state = "not used: " + rejected_why_[i];
    else
      s.state = "standby" +
                (st.streams > 0 ? " (finishing " + std::to_string(st.streams) + " streams)" : std::string()) +
                (left_why_[i].empty() ? std::string() : "; new streams left it: " + left_why_[i]);
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace ferry::agent

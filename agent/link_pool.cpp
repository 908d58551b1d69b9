#include "agent/link_pool.hpp"

#include <algorithm>

#include "common/log.hpp"

namespace ferry::agent {

LinkPool::LinkPool(uv_loop_t* loop, const config::AgentConfig& cfg, const crypto::SecretKey& key)
    : loop_(loop) {
  const auto n =
      static_cast<std::size_t>(std::clamp<std::int64_t>(cfg.links, 1, config::AgentConfig::kMaxLinks));
  for (std::size_t i = 0; i < n; ++i) {
    LinkPoolHooks hooks;
    hooks.index = i;
    hooks.size = n;
    hooks.primary = i == 0 ? nullptr : links_.front().get();
    hooks.may_connect = [this, i] { return may_connect(i); };
    hooks.on_change = [this] { on_change(); };
    hooks.on_routes = [this](const frame::Routes& r) {
      if (on_routes_) on_routes_(r);
    };
    links_.push_back(std::make_unique<LinkClient>(loop, cfg, key, std::move(hooks)));
  }
  recent_.resize(n);
  loads_.resize(n);
  last_chosen_.resize(n);
}

void LinkPool::start() {
  for (auto& l : links_) l->start();  // all but the primary park until it is up
}

bool LinkPool::may_connect(std::size_t i) const {
  if (stopping_) return false;
  if (standby_) {
    // Only a lost link's held streams bring a standby relay a link: to resume them (any link of
    // the pool, whether or not the primary is up).
    if (!links_[i]->holds_session()) return false;
  } else if (i != 0 && !links_[0]->up()) {
    return false;
  }
  for (std::size_t j = 0; j < links_.size(); ++j)
    if (j != i && links_[j]->connecting()) return false;
  return true;
}

// A link came up or an attempt ended: the next parked link may take its turn. poke() of a link that
// starts connecting makes may_connect() false for the rest, so at most one starts.
void LinkPool::on_change() {
  if (stopping_) return;
  if (standby_)  // a resumed link, or a handshake under way when another relay took over
    for (auto& l : links_)
      if (l->up()) l->wind_down("another relay takes new streams");
  if (links_[0]->up() && links_[0]->generation() != session_generation_) {
    session_generation_ = links_[0]->generation();  // a resume keeps it: the same session goes on
    if (on_new_session_) on_new_session_();
  }
  for (auto& l : links_) l->poke();
  // Opens wait on the primary while no link is up; one that comes up first takes them.
  if (links_[0]->up()) return;
  for (auto& l : links_)
    if (l->up()) return links_[0]->hand_over_waiting(*l);
}

void LinkPool::open(const Target& target, link::StreamHandler* handler, std::uint64_t deadline_ms) {
  const std::uint64_t now = uv_now(loop_);
  for (std::size_t i = 0; i < links_.size(); ++i) {
    recent_[i].update(links_[i]->bytes_moved(), now);
    loads_[i] = LinkLoad{links_[i]->up(), recent_[i].value(), links_[i]->stream_count(), last_chosen_[i]};
  }
  const std::size_t chosen = choose_link(loads_).value_or(0);
  last_chosen_[chosen] = ++opens_;
  links_[chosen]->open(target, handler, deadline_ms);
}

// Going standby, a link that holds a lost session and was parked (a secondary waits for the primary
// while the pool serves) may connect now, under the standby rule: nothing else would wake it, since
// a standby pool's idle links make no attempts whose end could.
void LinkPool::set_standby(bool standby) {
  standby_ = standby;
  for (auto& l : links_) {
    if (!standby) {
      l->poke();
      continue;
    }
    l->wind_down("another relay takes new streams");
    if (l->holds_session()) l->poke();
  }
}

bool LinkPool::any_up() const noexcept {
  for (const auto& l : links_)
    if (l->up()) return true;
  return false;
}

void LinkPool::hand_over_waiting(const LinkClient::OpenFn& open) {
  for (auto& l : links_) l->hand_over_waiting(open);
}

void LinkPool::probe(const std::string& why) {
  if (stopping_) return;
  log::info("agent", "network change (" + why + "): checking the links to the relay");
  for (auto& l : links_) l->probe();
}

void LinkPool::cancel(link::StreamHandler* handler) {
  for (auto& l : links_) l->cancel(handler);
}

void LinkPool::stop(std::function<void()> done) {
  stopping_ = true;
  auto shared_done = std::make_shared<std::function<void()>>(std::move(done));
  for (auto& l : links_)
    l->stop([this, shared_done] {
      if (++stopped_ == links_.size() && *shared_done) (*shared_done)();
    });
}

std::vector<LinkStatus> LinkPool::statuses() const {
  std::vector<LinkStatus> out;
  for (const auto& l : links_) out.push_back(l->status());
  return out;
}

LinkStatus LinkPool::status() const {
  const std::vector<LinkStatus> each = statuses();
  LinkStatus s = each.front();  // relay, last error: the primary's
  const LinkStatus* up = nullptr;
  for (const LinkStatus& l : each) {
    if (!up && l.state == "up") up = &l;
    if (s.state != "up" && (l.state == "up" || l.state == "draining")) s.state = l.state;
  }
  if (up) {  // the figures of a link that is up (the primary's when it is)
    s.cipher = up->cipher;
    s.rtt_ms = up->rtt_ms;
    s.connected_for_s = up->connected_for_s;
  }
  s.streams = s.bytes_sent = s.bytes_received = s.resumes = 0;
  for (const LinkStatus& l : each) {
    s.streams += l.streams;
    s.bytes_sent += l.bytes_sent;
    s.bytes_received += l.bytes_received;
    s.resumes += l.resumes;
    if (!l.last_resume_reason.empty()) s.last_resume_reason = l.last_resume_reason;
  }
  if (s.last_error.empty() && !up)  // while one is up, the others' errors are in statuses()
    for (const LinkStatus& l : each)
      if (!l.last_error.empty()) s.last_error = l.last_error;
  return s;
}

}  // namespace ferry::agent

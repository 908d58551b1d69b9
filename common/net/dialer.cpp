#include "common/net/dialer.hpp"

#include <unistd.h>

#include <cstring>
#include <utility>

#include "common/policy/address.hpp"
#include "common/uv/loop.hpp"

namespace ferry::net {

struct Dialer::ResolveBox {
  uv_getaddrinfo_t req{};
  Dialer* owner = nullptr;
  std::shared_ptr<LookupSlots> slots;  // given back when the callback runs, even after the Dialer
  std::function<void()> agent_done;    // likewise the agent's place
};
struct Dialer::DirectBox {  // outlives the Dialer when the caller closes `into_` mid-connect
  uv_connect_t req{};
  Dialer* owner = nullptr;
};

namespace {

frame::OpenCode code_for(int uv_error) {
  switch (uv_error) {
    case UV_ECONNREFUSED:
      return frame::OpenCode::Refused;
    case UV_ENETUNREACH:
      return frame::OpenCode::NetworkUnreachable;
    case UV_EHOSTUNREACH:
      return frame::OpenCode::HostUnreachable;
    case UV_ETIMEDOUT:  // the kernel gave up on its SYNs first (connect_timeout_ms above ~127 s)
      return frame::OpenCode::Timeout;
    case UV_EMFILE:
    case UV_ENFILE:
      return frame::OpenCode::Limit;
    default:
      return frame::OpenCode::Failure;
  }
}

}  // namespace

Dialer::Dialer(uv_loop_t* loop, const Target& target, DialOptions options, AddressCheck check, uv_tcp_t* into,
               DoneFn done)
    : loop_(loop),
      target_(target),
      options_(std::move(options)),
      check_(std::move(check)),
      into_(into),
      done_(std::move(done)) {}

Dialer::Ptr Dialer::make(uv_loop_t* loop, const Target& target, DialOptions options, AddressCheck check,
                         uv_tcp_t* into, DoneFn done) {
  return Ptr(new Dialer(loop, target, std::move(options), std::move(check), into, std::move(done)));
}

void Dialer::release() noexcept {
  finished_ = true;  // no done_ from here on
  stop_everything();
  handles_.when_closed([this] { delete this; });
}

void Dialer::start() {
  timeout_timer_.init(uv_timer_init, loop_, this);
  uv_timer_start(
      timeout_timer_.get(),
      [](uv_timer_t* t) {
        auto& d = *static_cast<Dialer*>(t->data);
        d.finish({frame::OpenCode::Timeout,
                  "no answer within " + std::to_string(d.options_.connect_timeout_ms) + " ms",
                  d.next_ == 0
                      ? std::string()
                      : uv::format_socket_address(reinterpret_cast<sockaddr*>(&d.addresses_[d.next_ - 1]))});
      },
      options_.connect_timeout_ms, 0);
  if (target_.kind != Target::Kind::Name) {
    sockaddr_storage ss{};
    policy::Address::from_target(target_)->to_sockaddr(target_.port, ss);
    const auto* sa = reinterpret_cast<const sockaddr*>(&ss);
    if (options_.egress && options_.egress->ss_family != sa->sa_family)
      return finish({frame::OpenCode::NetworkUnreachable, family_reason(), uv::format_socket_address(sa)});
    add_address(sa, false);
    if (addresses_.empty())
      return finish({frame::OpenCode::Denied, denied_reason_, uv::format_socket_address(sa)});
    return start_next_attempt();
  }
  if (options_.lookups && !options_.lookups->take(this)) {
    waiting_for_slot_ = true;  // start_lookup() comes later; the timeout above already runs
    return;
  }
  start_lookup();
}

void Dialer::start_lookup() {
  waiting_for_slot_ = false;
  if (options_.agent_lookup && !options_.agent_lookup()) {
    // The link's place, unused: give()'s loop (which may have called us) or a later give() moves on
    // to the next waiter, without recursion through this path.
    if (options_.lookups) options_.lookups->give_unused();
    return finish(
        {frame::OpenCode::Limit, "this agent has as many name lookups in progress as the relay allows", ""});
  }
  resolve_ = new ResolveBox;  // freed in its callback
  resolve_->owner = this;
  resolve_->slots = options_.lookups;
  resolve_->agent_done = options_.agent_lookup_done;
  resolve_->req.data = resolve_;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG;
  const std::string port = std::to_string(target_.port);
  const int r = uv_getaddrinfo(
      loop_, &resolve_->req,
      [](uv_getaddrinfo_t* req, int status, addrinfo* res) {
        auto* box = static_cast<ResolveBox*>(req->data);
        Dialer* owner = box->owner;
        const std::shared_ptr<LookupSlots> slots = std::move(box->slots);
        if (box->agent_done) box->agent_done();
        delete box;
        if (owner) owner->resolve_ = nullptr;
        if (slots) slots->give();  // may start other Dialers' lookups first
        if (owner) owner->on_resolved(status, res);
        uv_freeaddrinfo(res);
      },
      target_.name.c_str(), port.c_str(), &hints);
  if (r != 0) {
    if (resolve_->agent_done) resolve_->agent_done();
    delete resolve_;
    resolve_ = nullptr;
    if (options_.lookups) options_.lookups->give_unused();
    finish({frame::OpenCode::NameNotResolved, "cannot resolve " + target_.name + ": " + uv_strerror(r), ""});
  }
}

void Dialer::add_address(const sockaddr* sa, bool resolved) {
  if (options_.egress && options_.egress->ss_family != sa->sa_family) {
    skipped_family_ = true;  // the egress address decides the family
    return;
  }
  if (check_) {
    if (auto denied = check_(sa, resolved)) {
      if (denied_reason_.empty()) denied_reason_ = *denied;
      return;
    }
  }
  sockaddr_storage ss{};
  std::memcpy(&ss, sa, sa->sa_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6));
  addresses_.push_back(ss);
}

void Dialer::on_resolved(int status, addrinfo* res) {
  if (finished_) return;
  if (status != 0)
    return finish({frame::OpenCode::NameNotResolved,
                   options_.who + " cannot resolve " + target_.name + " (" + uv_strerror(status) + ")", ""});
  // RFC 8305 §4: interleave the families, starting with the resolver's first choice.
  std::vector<const addrinfo*> v6, v4;
  for (const addrinfo* ai = res; ai; ai = ai->ai_next) {
    if (ai->ai_family == AF_INET6)
      v6.push_back(ai);
    else if (ai->ai_family == AF_INET)
      v4.push_back(ai);
  }
  const bool six_first = res && res->ai_family == AF_INET6;
  auto& first = six_first ? v6 : v4;
  auto& second = six_first ? v4 : v6;
  for (std::size_t i = 0; i < std::max(first.size(), second.size()); ++i) {
    if (i < first.size()) add_address(first[i]->ai_addr, true);
    if (i < second.size()) add_address(second[i]->ai_addr, true);
  }
  if (addresses_.empty()) {
    if (!denied_reason_.empty()) return finish({frame::OpenCode::Denied, denied_reason_, ""});
    if (skipped_family_) return finish({frame::OpenCode::NetworkUnreachable, family_reason(), ""});
    return finish({frame::OpenCode::NameNotResolved,
                   target_.name + " has no address " + options_.who + " can reach", ""});
  }
  start_next_attempt();
}

std::string Dialer::family_reason() const {
  return options_.who + " dials only IPv" + (options_.egress->ss_family == AF_INET ? "4" : "6") +
         " (egress_bind)";
}

void Dialer::start_next_attempt() {
  if (finished_) return;
  if (next_timer_.is_open()) uv_timer_stop(next_timer_.get());
  if (next_ >= addresses_.size()) return;  // the last attempts are still running
  if (addresses_.size() == 1) return connect_directly();
  // Racing is for the first answer, not for every address at once: a name with 64 addresses that
  // never answer must not cost the relay 40 sockets per stream. At the cap the oldest attempt gives
  // way, so every address still gets its turn on the RFC 8305 schedule.
  if (racing_ >= kMaxAttemptsInFlight) {
    for (Attempt& oldest : attempts_)
      if (oldest.live) {
        retire(oldest);
        break;
      }
  }
  Attempt& a = attempts_.emplace_back(*this, handles_);
  a.addr = addresses_[next_++];
  a.req.data = &a;
  ++racing_;
  int r = a.tcp.init(uv_tcp_init, loop_, &a);
  if (r == 0 && options_.egress)
    r = uv_tcp_bind(a.tcp.get(), reinterpret_cast<const sockaddr*>(&*options_.egress), 0);
  if (r == 0)
    r = uv_tcp_connect(&a.req, a.tcp.get(), reinterpret_cast<const sockaddr*>(&a.addr),
                       [](uv_connect_t* req, int status) {
                         auto& at = *static_cast<Attempt*>(req->data);
                         if (at.live) at.owner.on_attempt_done(at, status);
                       });
  if (r != 0) return on_attempt_done(a, r);
  if (next_ < addresses_.size()) {
    if (!next_timer_.is_open()) next_timer_.init(uv_timer_init, loop_, this);
    uv_timer_start(
        next_timer_.get(), [](uv_timer_t* t) { static_cast<Dialer*>(t->data)->start_next_attempt(); },
        options_.attempt_delay_ms, 0);
  }
}

// The attempt stops racing: its socket closes (a connect in flight is cancelled; its callback finds
// the attempt not live).
void Dialer::retire(Attempt& a) {
  if (!std::exchange(a.live, false)) return;
  --racing_;
  a.tcp.close();
}

// Nothing to race: the caller's socket connects itself, which saves a socket, a dup, an ioctl and a
// close per stream (most targets are one address: every IP literal, most names).
void Dialer::connect_directly() {
  const sockaddr* addr = reinterpret_cast<const sockaddr*>(&addresses_[next_++]);
  direct_ = new DirectBox;  // freed by its callback, which also runs when `into_` closes mid-connect
  direct_->owner = this;
  direct_->req.data = direct_;
  int r = 0;
  if (options_.egress) r = uv_tcp_bind(into_, reinterpret_cast<const sockaddr*>(&*options_.egress), 0);
  if (r == 0)
    r = uv_tcp_connect(&direct_->req, into_, addr, [](uv_connect_t* req, int status) {
      auto* box = static_cast<DirectBox*>(req->data);
      Dialer* owner = box->owner;
      delete box;
      if (owner) {
        owner->direct_ = nullptr;
        owner->direct_done(status);
      }
    });
  if (r != 0) {
    delete std::exchange(direct_, nullptr);
    direct_done(r);
  }
}

void Dialer::direct_done(int status) {
  const std::string dialled = uv::format_socket_address(reinterpret_cast<sockaddr*>(&addresses_.front()));
  if (status == 0) return finish({frame::OpenCode::Ok, "", dialled});
  finish({code_for(status), std::string(uv_strerror(status)) + " (" + dialled + ")", dialled});
}

void Dialer::on_attempt_done(Attempt& a, int status) {
  if (finished_) return;
  const std::string dialled = uv::format_socket_address(reinterpret_cast<sockaddr*>(&a.addr));
  if (status == 0) {
    uv_os_fd_t fd;
    int r = uv_fileno(a.tcp.handle(), &fd);
    if (uv_is_closing(reinterpret_cast<uv_handle_t*>(into_)))
      return finish({frame::OpenCode::Failure, "the stream went away", dialled});
    const int copy = r == 0 ? ::dup(fd) : -1;
    if (copy < 0 || uv_tcp_open(into_, copy) != 0) {
      if (copy >= 0) ::close(copy);
      return finish({frame::OpenCode::Limit, "out of file descriptors", dialled});
    }
    return finish({frame::OpenCode::Ok, "", dialled});
  }
  last_error_ = status;
  retire(a);
  if (next_ < addresses_.size()) return start_next_attempt();  // a failure starts the next at once
  if (racing_ == 0)
    finish({code_for(last_error_), std::string(uv_strerror(last_error_)) + " (" + dialled + ")", dialled});
}

void Dialer::finish(DialResult r) {
  if (std::exchange(finished_, true)) return;
  stop_everything();
  if (done_) done_(r);  // may destroy this Dialer
}

void Dialer::stop_everything() {
  if (waiting_for_slot_) options_.lookups->forget(this);
  waiting_for_slot_ = false;
  if (direct_) direct_->owner = nullptr;  // closing `into_` cancels the connect; the callback frees the box
  direct_ = nullptr;
  if (resolve_) {
    resolve_->owner = nullptr;  // the callback frees the box; uv_cancel is best effort
    uv_cancel(reinterpret_cast<uv_req_t*>(&resolve_->req));
    resolve_ = nullptr;
  }
  for (Attempt& a : attempts_) retire(a);
  next_timer_.close();
  timeout_timer_.close();
}

}  // namespace ferry::net

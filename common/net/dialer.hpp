// Resolves a target at the relay and connects to it: uv_getaddrinfo, every resolved address checked
// by the policy, then Happy Eyeballs v2 (RFC 8305): families interleaved, a new attempt every 250 ms
// or at once when one fails, the first to connect wins. Attempts are bound to egress_bind when set.
// A single address is connected on the caller's own uv_tcp_t. With several, each attempt has a socket
// of its own and the winner's is handed over by fd (dup), so the caller's uv_tcp_t adopts it.
#pragma once

#include <uv.h>

#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/codec/link_frame.hpp"
#include "common/codec/target.hpp"
#include "common/net/lookup_slots.hpp"
#include "common/uv/handle.hpp"

namespace ferry::net {

struct DialResult {
  frame::OpenCode code = frame::OpenCode::Failure;
  std::string reason;   // for the user: which rule denied, which name did not resolve, ...
  std::string dialled;  // the address that answered (or was tried last), for the audit log
};

// Decides whether one resolved or literal address may be dialled. Returns the denying rule's text,
// or nothing when allowed.
using AddressCheck = std::function<std::optional<std::string>(const sockaddr* addr, bool resolved_from_name)>;

struct DialOptions {
  std::uint64_t connect_timeout_ms = 10000;
  // Who dials, in the reasons given to the user: "the relay", or for a direct dial of the agent "it"
  // (its reasons follow "dialled directly from this computer: ").
  std::string who = "the relay";
  std::uint64_t attempt_delay_ms = 250;    // RFC 8305 §5 recommends 250 ms
  std::optional<sockaddr_storage> egress;  // source address for every attempt
  std::shared_ptr<LookupSlots> lookups;    // the link's share of the lookup threads (none: no bound)
  // The agent's share across its links, old ones included (a link that churns leaves its lookups
  // running): `agent_lookup` takes a place (false: the agent holds its limit already, the dial fails
  // with Limit), `agent_lookup_done` gives it back when the lookup's thread returns, even after the
  // Dialer and its link have gone. Both unset: no bound.
  std::function<bool()> agent_lookup;
  std::function<void()> agent_lookup_done;
};

class Dialer {
 public:
  // Called once, unless cancelled. On success `into` (an initialised, unconnected uv_tcp_t) holds
  // the connection.
  using DoneFn = std::function<void(const DialResult&)>;

  // Its owner may let it go at any time: the deleter cancels what is in flight (done is not called
  // any more) and the Dialer frees itself once its timers' and sockets' close callbacks have run.
  struct Release {
    void operator()(Dialer* d) const noexcept { d->release(); }
  };
  using Ptr = std::unique_ptr<Dialer, Release>;
  static Ptr make(uv_loop_t* loop, const Target& target, DialOptions options, AddressCheck check,
                  uv_tcp_t* into, DoneFn done);
  Dialer(const Dialer&) = delete;
  Dialer& operator=(const Dialer&) = delete;

  void start();
  // The name lookup itself; LookupSlots calls it when this Dialer's turn comes.
  void start_lookup();

 private:
  Dialer(uv_loop_t* loop, const Target& target, DialOptions options, AddressCheck check, uv_tcp_t* into,
         DoneFn done);
  ~Dialer() = default;  // from release(), once every handle has closed
  void release() noexcept;

  static constexpr std::size_t kMaxAttemptsInFlight = 2;
  // One racing connect on a socket of its own. Kept (closed) until the Dialer goes, so the connect
  // callback that a close cancels still finds it.
  struct Attempt {
    Attempt(Dialer& d, uv::HandleGroup& group) : owner(d), tcp(group) {}
    Dialer& owner;
    uv::Handle<uv_tcp_t> tcp;
    uv_connect_t req{};
    sockaddr_storage addr{};
    bool live = true;  // racing; false once it lost, failed or was cancelled
  };
  struct ResolveBox;
  struct DirectBox;
  void on_resolved(int status, addrinfo* res);
  void add_address(const sockaddr* sa, bool resolved);
  void start_next_attempt();
  std::string family_reason() const;
  void connect_directly();
  void direct_done(int status);
  void on_attempt_done(Attempt& a, int status);
  void finish(DialResult r);
  void stop_everything();
  void retire(Attempt& a);

  uv_loop_t* loop_;
  Target target_;
  DialOptions options_;
  AddressCheck check_;
  uv_tcp_t* into_;
  DoneFn done_;
  ResolveBox* resolve_ = nullptr;
  bool waiting_for_slot_ = false;
  DirectBox* direct_ = nullptr;  // the connect of `into_` when there is one address
  uv::HandleGroup handles_;      // before the handles: they count in it
  uv::Handle<uv_timer_t> timeout_timer_{handles_};
  uv::Handle<uv_timer_t> next_timer_{handles_};  // the next attempt's start (RFC 8305)
  std::vector<sockaddr_storage> addresses_;      // in Happy Eyeballs order
  std::size_t next_ = 0;
  std::list<Attempt> attempts_;  // every attempt made; addresses stay put
  std::size_t racing_ = 0;       // attempts still live
  std::string denied_reason_;
  int last_error_ = 0;
  bool finished_ = false;
  bool skipped_family_ = false;  // an address of the other family than egress_bind was left out
};

}  // namespace ferry::net

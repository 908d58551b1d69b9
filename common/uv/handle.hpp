// The one way ferry owns a libuv handle. libuv keeps a handle's address from its init until the
// callback of its uv_close (docs/src/handle.rst: memory may be freed only from, or after, that
// callback), so:
//   - a Handle<T> is a member of its owner and never moves or copies;
//   - close() is guarded (a second call, or one on a handle never opened, does nothing) and always
//     passes a callback, which counts the close in the owner's HandleGroup;
//   - the owner learns from its HandleGroup when the last of its handles has closed, and only then
//     may it be destroyed (HandleGroup::when_closed).
// Typed accessors (stream(), handle()) replace the casts between libuv's handle types.
#pragma once

#include <uv.h>

#include <cassert>
#include <cstddef>
#include <functional>
#include <type_traits>
#include <utility>

namespace ferry::uv {

// The handles of one owner: how many are open or closing, and what to do once none is.
class HandleGroup {
 public:
  HandleGroup() = default;
  HandleGroup(const HandleGroup&) = delete;
  HandleGroup& operator=(const HandleGroup&) = delete;
  ~HandleGroup() { assert(open_ == 0 && "an owner destroyed before its handles' close callbacks"); }

  // Runs `fn` once the group's last handle has closed: at once when none is open. The callback may
  // destroy the owner (and this group with it).
  void when_closed(std::function<void()> fn) {
    if (open_ == 0) {
      if (fn) fn();
      return;
    }
    when_closed_ = std::move(fn);
  }
  // Handles initialised and not yet closed (closing ones included).
  std::size_t open() const noexcept { return open_; }

 private:
  template <class T>
  friend class Handle;
  void opened() noexcept { ++open_; }
  void closed() {
    assert(open_ > 0);
    if (--open_ == 0 && when_closed_) std::exchange(when_closed_, nullptr)();  // may destroy us
  }

  std::size_t open_ = 0;
  std::function<void()> when_closed_;
};

template <class T>
class Handle {
 public:
  explicit Handle(HandleGroup& group) noexcept : group_(&group) {}
  Handle(const Handle&) = delete;  // libuv holds this address: neither copied nor moved
  Handle& operator=(const Handle&) = delete;
  ~Handle() { assert((!open_ || closed_) && "a handle destroyed before its close callback"); }

  // Initialises the handle with libuv's init function for its type, for example
  // `timer_.init(uv_timer_init, loop)`; `data` is what the handle's callbacks get back.
  template <class Init, class... Args>
  int init(Init fn, uv_loop_t* loop, void* data, Args&&... args) {
    assert(!open_);
    const int r = fn(loop, &h_, std::forward<Args>(args)...);
    if (r == 0) {
      open_ = true;
      h_.data = data;
      group_->opened();
    }
    return r;
  }

  T* get() noexcept { return &h_; }
  const T* get() const noexcept { return &h_; }
  uv_handle_t* handle() noexcept { return reinterpret_cast<uv_handle_t*>(&h_); }
  const uv_handle_t* handle() const noexcept { return reinterpret_cast<const uv_handle_t*>(&h_); }
  uv_stream_t* stream() noexcept {
    static_assert(std::is_same_v<T, uv_tcp_t> || std::is_same_v<T, uv_pipe_t> || std::is_same_v<T, uv_tty_t>,
                  "only stream handles are streams");
    return reinterpret_cast<uv_stream_t*>(&h_);
  }

  // Initialised and not closing.
  bool is_open() const noexcept { return open_ && !closing_; }
  bool closing() const noexcept { return closing_; }

  // Closes the handle; its group counts it until libuv's callback. Once only.
  void close() noexcept {
    if (!open_ || std::exchange(closing_, true)) return;
    uv_close(handle(), on_closed);
  }
  // A TCP handle closed with a reset (RST) rather than a FIN, where the socket allows it.
  void close_reset() noexcept requires std::is_same_v<T, uv_tcp_t> {
    if (!open_ || std::exchange(closing_, true)) return;
    if (uv_tcp_close_reset(&h_, on_closed) != 0) uv_close(handle(), on_closed);
  }

 private:
  // `h_` is the first member of a standard-layout class, so the uv_handle_t* libuv hands back is
  // also the Handle's address.
  static void on_closed(uv_handle_t* h) noexcept {
    auto* self = reinterpret_cast<Handle*>(h);
    self->closed_ = true;
    self->group_->closed();  // last: may destroy the owner, and this handle with it
  }

  T h_{};
  HandleGroup* group_;
  bool open_ = false;
  bool closing_ = false;
  bool closed_ = false;
};

static_assert(std::is_standard_layout_v<Handle<uv_timer_t>>,
              "the close callback finds the Handle by address");
static_assert(std::is_standard_layout_v<Handle<uv_tcp_t>>, "the close callback finds the Handle by address");

}  // namespace ferry::uv

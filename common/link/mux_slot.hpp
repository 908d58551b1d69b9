// A link's place for the session's streams (docs/protocol.md 2.6). Each link starts with a mux of its
// own; a resumable link lost with streams open gives its mux, suspended, to the session's owner, and
// the link that resumes the session takes that mux in place of its own. So the streams, their kept
// bytes and their handlers' refs (which name the mux) outlive any one link.
#pragma once

#include <functional>
#include <memory>

#include "common/link/mux.hpp"

namespace ferry::link {

class MuxSlot {
 public:
  using KeepFn = std::function<void(std::unique_ptr<Mux>)>;

  MuxSlot(Mux::Side side, const MuxLimits& limits, LinkEvents& events, std::function<void()> wake);

  Mux& operator*() noexcept { return *mux_; }
  const Mux& operator*() const noexcept { return *mux_; }
  Mux* operator->() noexcept { return mux_.get(); }
  const Mux* operator->() const noexcept { return mux_.get(); }
  Mux* get() noexcept { return mux_.get(); }
  const Mux* get() const noexcept { return mux_.get(); }

  // Where the events of a mux made from now on go (the session's owner changed).
  void set_events(LinkEvents& events) noexcept { events_ = &events; }
  // Takes a lost link's mux in place of this one, which must have no streams. `established`: the
  // RESUME exchange starts at once.
  void adopt(std::unique_ptr<Mux> mux, bool established);
  // Gives this mux away, leaving an empty one.
  std::unique_ptr<Mux> take() { return std::exchange(mux_, make()); }
  // The link ended. Lost (not closed by either side), resumable and with streams open: the mux,
  // suspended, goes to `keep`; otherwise every stream is reset.
  void end(bool lost, const KeepFn& keep);

 private:
  std::unique_ptr<Mux> make();

  Mux::Side side_;
  MuxLimits limits_;
  LinkEvents* events_;
  std::function<void()> wake_;
  std::unique_ptr<Mux> mux_;
};

}  // namespace ferry::link

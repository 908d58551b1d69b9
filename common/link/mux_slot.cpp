#include "common/link/mux_slot.hpp"

namespace ferry::link {

MuxSlot::MuxSlot(Mux::Side side, const MuxLimits& limits, LinkEvents& events, std::function<void()> wake)
    : side_(side), limits_(limits), events_(&events), wake_(std::move(wake)), mux_(make()) {}

std::unique_ptr<Mux> MuxSlot::make() { return std::make_unique<Mux>(side_, limits_, *events_, wake_); }

void MuxSlot::adopt(std::unique_ptr<Mux> mux, bool established) {
  mux_ = std::move(mux);
  mux_->set_wake(wake_);
  if (established) mux_->resume();
}

void MuxSlot::end(bool lost, const KeepFn& keep) {
  if (lost && keep && mux_->resumable() && mux_->stream_count() > 0) {
    mux_->suspend();
    mux_->set_wake({});  // this link's wake goes with it
    return keep(take());
  }
  mux_->shutdown_all();
}

}  // namespace ferry::link

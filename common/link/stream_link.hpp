// How a StreamRef finds its stream's mux: the link it was opened on answers for the generation it was
// opened in, or says the link is gone (nullptr).
#pragma once

#include <cstdint>

namespace ferry::link {

class Mux;

class StreamLink {
 public:
  virtual Mux* mux_of(std::uint64_t generation) noexcept = 0;

 protected:
  ~StreamLink() = default;
};

}  // namespace ferry::link

#pragma once

#include <cstdint>

namespace gridserve::core {

// Monotonic time source, injected wherever behaviour depends on time (queue delays, timeouts) so
// tests can drive it without sleeping. Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t NowNanos() const = 0;

  // The process-wide steady clock. Never null; lives forever.
  static const Clock* Real();
};

}  // namespace gridserve::core

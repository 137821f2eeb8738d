// The public API's boundary: whatever fails inside a call leaves it as
// visionrt::Error. A host allocation that fails (std::bad_alloc, from any
// container or tensor) becomes out_of_memory naming the call; any other
// standard exception is a visionrt bug, reported as internal.
#pragma once
#include <new>
#include <stdexcept>
#include <string>

#include "visionrt/status.hpp"

namespace visionrt {

template <typename Fn>
auto api_call(const char* what, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw Error(StatusCode::out_of_memory, std::string("out of host memory while ") + what);
  } catch (const std::exception& e) {
    throw Error(StatusCode::internal, std::string("internal error while ") + what + ": " + e.what());
  }
}

}  // namespace visionrt

// Internal helpers for raising visionrt::Error with a formatted message.
#pragma once
#include <sstream>
#include <string>
#include <utility>

#include "visionrt/status.hpp"

namespace visionrt {

template <typename... Args>
std::string str_cat(Args&&... args) {
  std::ostringstream s;
  (s << ... << std::forward<Args>(args));
  return s.str();
}

template <typename... Args>
[[noreturn]] void fail(StatusCode code, Args&&... args) {
  throw Error(code, str_cat(std::forward<Args>(args)...));
}

// Checks an invariant; failing it is a visionrt bug, not a user error.
#define VRT_CHECK(cond, ...)                                                    \
  do {                                                                          \
    if (!(cond))                                                                \
      ::visionrt::fail(::visionrt::StatusCode::internal, __FILE__, ":", __LINE__, \
                       ": ", #cond, " ", ##__VA_ARGS__);                        \
  } while (0)

}  // namespace visionrt

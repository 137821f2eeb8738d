#include "output.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace visionrt_cli {

double json_number(float value) {
  char text[32];
  for (int precision = 1; precision <= 9; ++precision) {
    std::snprintf(text, sizeof text, "%.*g", precision, static_cast<double>(value));
    if (std::strtof(text, nullptr) == value) break;
  }
  return std::strtod(text, nullptr);
}

std::string one_line_reason(const std::string& message, const std::string& path) {
  const std::string prefix = path + ": ";
  std::string reason = message.rfind(prefix, 0) == 0 ? message.substr(prefix.size()) : message;
  std::replace(reason.begin(), reason.end(), '\n', ' ');
  std::replace(reason.begin(), reason.end(), '\r', ' ');
  return reason;
}

}  // namespace visionrt_cli

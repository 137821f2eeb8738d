// A one-line progress bar on stderr, shown only when stderr is a terminal.
#pragma once
#include <cstddef>
#include <string>

namespace visionrt_cli {

class ProgressBar {
 public:
  // Shown when there are more than kMinItems items and stderr is a terminal,
  // so logs and pipes never receive carriage returns or escape codes.
  static constexpr size_t kMinItems = 8;
  explicit ProgressBar(size_t total);
  ~ProgressBar();

  void update(size_t done);
  // Removes the bar so that a line can be written to stdout or stderr;
  // the next update() draws it again.
  void clear();
  // Writes "visionrt: " + message as one line on stderr without mangling the bar.
  void error_line(const std::string& message);

 private:
  size_t total_ = 0;
  size_t done_ = 0;
  bool enabled_ = false;
  bool drawn_ = false;
};

}  // namespace visionrt_cli

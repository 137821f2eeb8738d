#include "progress.hpp"

#include <cstdio>
#include <string>

#include <unistd.h>

namespace visionrt_cli {

ProgressBar::ProgressBar(size_t total)
    : total_(total), enabled_(total > kMinItems && isatty(STDERR_FILENO) == 1) {}

ProgressBar::~ProgressBar() { clear(); }

void ProgressBar::update(size_t done) {
  done_ = done;
  if (!enabled_) return;
  constexpr size_t kWidth = 30;
  const size_t filled = total_ == 0 ? kWidth : done * kWidth / total_;
  std::string bar = "\r[" + std::string(filled, '#') + std::string(kWidth - filled, ' ') + "] " +
                    std::to_string(done) + "/" + std::to_string(total_);
  // Results already written to stdout must reach the terminal before the
  // bar is drawn after them.
  std::fflush(stdout);
  std::fputs(bar.c_str(), stderr);
  std::fflush(stderr);
  drawn_ = true;
}

void ProgressBar::clear() {
  if (!drawn_) return;
  std::fputs("\r\033[K", stderr);
  std::fflush(stderr);
  drawn_ = false;
}

void ProgressBar::error_line(const std::string& message) {
  const bool redraw = drawn_;
  clear();
  std::fflush(stdout);
  std::fprintf(stderr, "visionrt: %s\n", message.c_str());
  std::fflush(stderr);
  if (redraw) update(done_);
}

}  // namespace visionrt_cli

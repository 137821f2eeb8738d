// Output helpers shared by the visionrt subcommands.
#pragma once
#include <string>

namespace visionrt_cli {

// The shortest decimal that reads back as the same float, so JSON shows
// 0.9876 rather than the double expansion 0.98760002851486206.
double json_number(float value);

// An error message fit for one stderr line after "visionrt: PATH: ". Library
// messages often start with the file's path already, which is dropped so the
// line names it once; line breaks (a decoder's multi-line text) become spaces.
std::string one_line_reason(const std::string& message, const std::string& path);

// `text` (a label or path read from a file) made safe for a terminal line:
// control characters (escape sequences, line breaks, NUL), C1 controls,
// DEL and bytes that are not UTF-8 become \xNN, and a backslash is
// doubled, so the line reads back unambiguously. Other UTF-8 is kept.
std::string terminal_text(const std::string& text);

}  // namespace visionrt_cli

// Command-line argument parsing shared by the visionrt subcommands.
#pragma once
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "visionrt/visionrt.hpp"

namespace visionrt_cli {

// A mistake in how the tool was called; main turns it into exit code 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parses "--name", "--name VALUE" and "--name=VALUE" options and positional
// arguments. "-h" means "--help"; "--" ends the options. A repeated option
// keeps its last value.
class ArgParser {
 public:
  ArgParser(std::vector<std::string> flags, std::vector<std::string> valued_options);

  // Throws UsageError on an unknown option, or a valued option without a value.
  void parse(const std::vector<std::string>& args);

  // True when the option was given (flags and valued options alike).
  bool has(const std::string& name) const;
  std::string value(const std::string& name, const std::string& fallback = "") const;
  // The option's value as an integer in [min, max], or fallback when absent.
  int int_value(const std::string& name, int fallback, int min, int max) const;
  const std::vector<std::string>& positionals() const { return positionals_; }

 private:
  std::vector<std::string> flag_names_, valued_names_;
  std::map<std::string, std::string> values_;
  std::vector<std::string> positionals_;
};

// A whole decimal number in [min, max]; `what` names it in the error.
int parse_int(const std::string& text, const std::string& what, int min, int max);

// A detection score threshold in [0, 1).
float parse_threshold(const std::string& text);

// "cpu", "cuda" or "auto".
visionrt::Device parse_device(const std::string& text);

// "fp32", "bf16", "fp16" or "tf32".
visionrt::Precision parse_precision(const std::string& text);

// The options every model command shares (--device, --precision,
// --threads, --cuda-graph), with their help lines: a literal, to join the
// commands' usage texts.
#define VISIONRT_DEVICE_OPTIONS_HELP                                                         \
    "  --device cpu|cuda|auto  where to run (default auto: the GPU when usable, else\n" \
    "                          the CPU with a notice on stderr)\n" \
    "  --precision P           fp32 (default), tf32 (GPU), fp16 (GPU) or bf16 (a GPU,\n" \
    "                          or a CPU with AVX-512 BF16 or AMX); products always\n" \
    "                          accumulate in fp32\n" \
    "  --threads N             CPU worker threads (default 0: all cores)\n" \
    "  --cuda-graph on|off     GPU: replay each input shape as one CUDA graph (default on)\n"
// Reads them from a parser that accepts them.
void read_device_options(const ArgParser& parser, visionrt::Options& options);

}  // namespace visionrt_cli

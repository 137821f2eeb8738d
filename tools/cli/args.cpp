#include "args.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>

namespace visionrt_cli {
namespace {

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace

ArgParser::ArgParser(std::vector<std::string> flags, std::vector<std::string> valued_options)
    : flag_names_(std::move(flags)), valued_names_(std::move(valued_options)) {}

void ArgParser::parse(const std::vector<std::string>& args) {
  bool options_ended = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (options_ended || arg.size() < 2 || arg[0] != '-') {
      positionals_.push_back(arg);
      continue;
    }
    if (arg == "--") {
      options_ended = true;
      continue;
    }
    std::string name = arg == "-h" ? "--help" : arg;
    std::string inline_value;
    bool has_inline_value = false;
    if (size_t eq = name.find('='); name.rfind("--", 0) == 0 && eq != std::string::npos) {
      inline_value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_inline_value = true;
    }
    if (contains(flag_names_, name)) {
      if (has_inline_value) throw UsageError("option '" + name + "' takes no value");
      values_[name] = "";
    } else if (contains(valued_names_, name)) {
      if (has_inline_value) {
        values_[name] = inline_value;
      } else if (i + 1 < args.size()) {
        values_[name] = args[++i];
      } else {
        throw UsageError("option '" + name + "' needs a value");
      }
    } else {
      throw UsageError("unknown option '" + arg + "'");
    }
  }
}

bool ArgParser::has(const std::string& name) const { return values_.count(name) != 0; }

std::string ArgParser::value(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

int ArgParser::int_value(const std::string& name, int fallback, int min, int max) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : parse_int(it->second, name, min, max);
}

int parse_int(const std::string& text, const std::string& what, int min, int max) {
  const std::string range = " (expected a whole number from " + std::to_string(min) + " to " +
                            std::to_string(max) + ")";
  // strtol alone accepts leading spaces, a '+' and trailing junk; insist on digits only.
  bool digits_only = !text.empty() && text.size() <= 10 &&
                     std::all_of(text.begin() + (text[0] == '-' ? 1 : 0), text.end(),
                                 [](char c) { return c >= '0' && c <= '9'; }) &&
                     text != "-";
  if (!digits_only) throw UsageError("invalid value '" + text + "' for " + what + range);
  errno = 0;
  long value = std::strtol(text.c_str(), nullptr, 10);
  if (errno != 0 || value < min || value > max)
    throw UsageError("value " + text + " for " + what + " is out of range" + range);
  return static_cast<int>(value);
}

visionrt::Device parse_device(const std::string& text) {
  visionrt::Device device;
  if (visionrt::parse_device(text, &device)) return device;
  throw UsageError("invalid value '" + text + "' for --device (expected cpu, cuda or auto)");
}

float parse_threshold(const std::string& text) {
  char* end = nullptr;
  const float t = std::strtof(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !(t >= 0.f && t < 1.f))
    throw UsageError("--threshold must be a number in [0, 1), got '" + text + "'");
  return t;
}

visionrt::Precision parse_precision(const std::string& text) {
  visionrt::Precision precision;
  if (visionrt::parse_precision(text, &precision)) return precision;
  throw UsageError("--precision must be fp32, tf32, fp16 or bf16, got '" + text + "'");
}

void read_device_options(const ArgParser& parser, visionrt::Options& options) {
  options.device = parse_device(parser.value("--device", "auto"));
  options.precision = parse_precision(parser.value("--precision", "fp32"));
  options.num_threads = parser.int_value("--threads", 0, 0, 4096);
  const std::string graphs = parser.value("--cuda-graph", "on");
  if (graphs != "on" && graphs != "off") throw UsageError("--cuda-graph must be on or off, got '" + graphs + "'");
  options.cuda_graphs = graphs == "on";
}

}  // namespace visionrt_cli

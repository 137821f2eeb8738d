// The visionrt tool's subcommands. Each one lives in its own file and is
// listed in the table in main.cpp.
#pragma once
#include <string>
#include <vector>

namespace visionrt_cli {

// Exit codes shared by every subcommand.
constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;  // the model or some input could not be processed
constexpr int kExitUsage = 2;    // the tool was called wrongly

struct Subcommand {
  const char* name;
  const char* summary;  // one line for "visionrt --help"
  // Gets the arguments after the subcommand's name. Throws UsageError for
  // mistakes in them; reports everything else itself and returns an exit code.
  int (*run)(const std::vector<std::string>& args);
};

int run_classify(const std::vector<std::string>& args);
int run_detect(const std::vector<std::string>& args);
int run_embed(const std::vector<std::string>& args);
int run_eval(const std::vector<std::string>& args);
int run_bench(const std::vector<std::string>& args);

}  // namespace visionrt_cli

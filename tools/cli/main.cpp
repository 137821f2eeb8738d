// visionrt: the command-line front end over the public visionrt API.
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "args.hpp"
#include "commands.hpp"
#include "visionrt/visionrt.hpp"

namespace visionrt_cli {
namespace {

const Subcommand kSubcommands[] = {
    {"classify", "label images with an image-classification model (ViT, DeiT, DINOv2, timm)", run_classify},
    {"detect", "find objects in images with an object-detection model (DETR)", run_detect},
    {"embed", "image features from a ViT-family encoder (DINOv2, DeiT, ViT, timm)", run_embed},
    {"eval", "COCO box AP and set-prediction loss of a DETR model on annotated images", run_eval},
    {"bench", "latency, throughput and GFLOP/s of a model's forward pass", run_bench},
};

void print_help() {
  std::printf(
      "usage: visionrt COMMAND [OPTIONS] ...\n"
      "       visionrt --version | --help\n\n"
      "Runs Vision Transformer models from Hugging Face checkpoint folders.\n\n"
      "commands:\n");
  for (const Subcommand& command : kSubcommands)
    std::printf("  %-10s %s\n", command.name, command.summary);
  std::printf("\n'visionrt COMMAND --help' describes a command's options.\n");
}

void print_version() {
  std::printf("visionrt %s\n", visionrt::version());
  // Asks no driver: --version loads nothing of CUDA.
  std::printf("CUDA: %s\n", visionrt::has_cuda_backend() ? "yes (backend library loaded when a GPU is used)"
                                                          : "no (built without CUDA)");
  std::printf("OpenCV image decoding: %s\n", visionrt::has_image_io() ? "yes" : "no");
}

int run(const std::vector<std::string>& args) {
  if (args.empty()) throw UsageError("no command given");
  const std::string& first = args[0];
  if (first == "--help" || first == "-h" || first == "help") {
    print_help();
    return kExitOk;
  }
  if (first == "--version") {
    print_version();
    return kExitOk;
  }
  for (const Subcommand& command : kSubcommands) {
    if (first == command.name) {
      try {
        return command.run(std::vector<std::string>(args.begin() + 1, args.end()));
      } catch (const UsageError& e) {
        std::fprintf(stderr, "visionrt %s: %s\ntry 'visionrt %s --help'\n", command.name,
                     e.what(), command.name);
        return kExitUsage;
      }
    }
  }
  throw UsageError(first[0] == '-' ? "unknown option '" + first + "'"
                                   : "unknown command '" + first + "'");
}

}  // namespace
}  // namespace visionrt_cli

int main(int argc, char** argv) {
  using namespace visionrt_cli;
  try {
    const int status = run(std::vector<std::string>(argv + 1, argv + argc));
    // Results that could not be written (a full disk, a closed pipe) are a failure too.
    if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
      std::fprintf(stderr, "visionrt: error writing the output\n");
      return kExitFailure;
    }
    return status;
  } catch (const UsageError& e) {
    std::fprintf(stderr, "visionrt: %s\ntry 'visionrt --help'\n", e.what());
    return kExitUsage;
  } catch (const std::exception& e) {
    // Subcommands report their own errors; this is the last guard against
    // anything unexpected (e.g. running out of memory) ending in a crash.
    std::fprintf(stderr, "visionrt: error: %s\n", e.what());
    return kExitFailure;
  }
}

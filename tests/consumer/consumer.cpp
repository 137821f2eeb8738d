// Classifies one image with an installed visionrt and prints the top label:
//   consumer MODEL_DIR IMAGE  ->  "top1 id=N probability=P label=NAME"
#include <cstdio>
#include <vector>

#include <visionrt/visionrt.hpp>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: consumer MODEL_DIR IMAGE\n");
    return 2;
  }
  try {
    const visionrt::Classifier classifier = visionrt::Classifier::load(argv[1]);
    const std::vector<visionrt::Label> top = classifier.classify_files({argv[2]}, 1).at(0);
    std::printf("top1 id=%d probability=%.6f label=%s\n", top.at(0).id, top.at(0).probability,
                top.at(0).name.c_str());
    return 0;
  } catch (const visionrt::Error& e) {
    std::fprintf(stderr, "consumer: %s (%s)\n", e.what(), visionrt::status_name(e.code()));
    return 1;
  }
}

// The thread-safety contract of the public header: one loaded Classifier
// and one Detector shared by several threads give each thread bitwise the
// results one thread gets alone (runs on one model are serialised inside
// it; preparation runs in parallel).
#include <gtest/gtest.h>
#include <sched.h>

#include <filesystem>
#include <random>
#include <thread>
#include <vector>

#include "visionrt/visionrt.hpp"

namespace visionrt {
namespace {

namespace fs = std::filesystem;
const fs::path kRoot(VISIONRT_SOURCE_DIR);

// "All cores" is the processors the affinity mask allows, counted
// independently of OpenMP here.
TEST(ConcurrencyTest, AllCoresIsTheAffinityMask) {
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_EQ(sched_getaffinity(0, sizeof(set), &set), 0);
  EXPECT_EQ(hardware_threads(), CPU_COUNT(&set));
}

TEST(ConcurrencyTest, ThreadsSharingOneClassifierAndOneDetectorGetOneThreadsResults) {
  Options options;
  options.device = Device::cpu;
  options.num_threads = 2;
  const Classifier classifier = Classifier::load((kRoot / "models/demo/vit-digits").string(), options);
  const Detector detector = Detector::load((kRoot / "tests/fixtures/detr/r18_timm").string(), options);
  const ModelInfo& info = classifier.info();
  std::mt19937 rng(8);
  std::normal_distribution<float> normal;
  const int n = 3;
  std::vector<float> pixels(size_t(n) * 3 * info.input_height * info.input_width);
  for (float& v : pixels) v = normal(rng);
  std::vector<float> detr_pixels(size_t(2) * 3 * 64 * 96), mask(size_t(2) * 64 * 96, 1.f);
  for (float& v : detr_pixels) v = normal(rng);
  for (int x = 0; x < 40; ++x) mask[64 * 96 + 63 * 96 + x] = 0.f;  // some padding in image 1

  const std::vector<float> want_logits = classifier.logits(pixels.data(), n, info.input_height, info.input_width);
  const DetrOutputs want_detr = detector.forward(detr_pixels.data(), mask.data(), 2, 64, 96);

  constexpr int kThreads = 4, kRounds = 3;
  std::vector<int> mismatches(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRounds; ++r) {
        if (classifier.logits(pixels.data(), n, info.input_height, info.input_width) != want_logits) ++mismatches[t];
        const DetrOutputs got = detector.forward(detr_pixels.data(), mask.data(), 2, 64, 96);
        if (got.logits != want_detr.logits || got.boxes != want_detr.boxes) ++mismatches[t];
      }
    });
  for (std::thread& t : threads) t.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}

}  // namespace
}  // namespace visionrt

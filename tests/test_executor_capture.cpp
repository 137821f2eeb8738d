// The executor's captured runs (CUDA graphs on the GPU), checked on the CPU
// through a backend that records the work it is asked to capture and
// replays it by calling it again: the first run goes node by node, the
// second captures once, later runs replay, rebinding memory recaptures,
// and results never change.
#include <gtest/gtest.h>

#include <filesystem>
#include <cmath>
#include <cstdlib>
#include <random>

#include "runtime/backend.hpp"
#include "core/error.hpp"
#include "io/model_folder.hpp"
#include "models/vit.hpp"
#include "runtime/executor.hpp"

namespace visionrt {
namespace {

class ReplayingWork final : public CapturedWork {
 public:
  ReplayingWork(std::function<void()> work, int* launches) : work_(std::move(work)), launches_(launches) {}
  void launch() override {
    ++*launches_;
    work_();
  }

 private:
  std::function<void()> work_;
  int* launches_;
};

// The CPU backend, but for capture.
class CapturingBackend final : public Backend {
 public:
  CapturingBackend() : cpu_(make_cpu_backend(2)) {}
  const char* name() const override { return "capturing"; }
  const PrecisionPolicy& precision() const override { return cpu_->precision(); }
  void* allocate(size_t bytes) override { return cpu_->allocate(bytes); }
  void release(void* p) noexcept override { cpu_->release(p); }
  void copy_to_device(void* dst, const void* src, size_t bytes) override { cpu_->copy_to_device(dst, src, bytes); }
  void copy_to_host(void* dst, const void* src, size_t bytes) override { cpu_->copy_to_host(dst, src, bytes); }
  Tensor prepare_weight(const Tensor& stored, DType dtype) override { return cpu_->prepare_weight(stored, dtype); }
  const Kernel* kernel(const NodeSignature& sig) const override { return cpu_->kernel(sig); }
  graph::EpilogueFilter epilogue_filter() const override { return cpu_->epilogue_filter(); }
  void bind_context(KernelArgs& args) override { cpu_->bind_context(args); }
  int threads() const override { return cpu_->threads(); }
  void* allocate_staging(size_t bytes) override { return stage ? std::aligned_alloc(64, (bytes + 63) / 64 * 64) : nullptr; }
  void release_staging(void* p) noexcept override { std::free(p); }
  std::unique_ptr<CapturedWork> capture(const std::function<void()>& enqueue) override {
    ++captures;
    if (refuse_capture) fail(StatusCode::device_error, "cudaStreamEndCapture failed: operation not permitted");
    return std::make_unique<ReplayingWork>(enqueue, &launches);
  }
  int captures = 0, launches = 0;
  bool refuse_capture = false;  // capture() throws, as a CUDA capture that fails
  bool stage = false;  // stage inputs and outputs in memory of the backend's, as a GPU's pinned memory

 private:
  std::shared_ptr<Backend> cpu_;
};

TEST(ExecutorCaptureTest, CapturesOnTheSecondRunAndReplaysAfter) {
  const io::ModelFolder folder =
      io::ModelFolder::open((std::filesystem::path(VISIONRT_SOURCE_DIR) / "tests/fixtures/vit/p16_d64").string());
  const models::VitModel model = models::VitModel::load(folder);
  auto backend = std::make_shared<CapturingBackend>();
  graph::Executor ex(model.build(1, 64, 64, false), backend);
  std::mt19937 rng(2);
  std::normal_distribution<float> normal;
  std::vector<float> px(3 * 64 * 64);
  for (float& v : px) v = normal(rng);
  const int64_t labels = static_cast<int64_t>(model.config().labels.size());
  auto run = [&] {
    std::vector<float> logits(labels, NAN);
    ex.run({Tensor::view(DType::f32, {1, 3, 64, 64}, px.data())}, {Tensor::view(DType::f32, {1, labels}, logits.data())});
    return logits;
  };
  const std::vector<float> first = run();
  EXPECT_EQ(backend->captures, 0) << "the first run goes node by node";
  for (int i = 0; i < 3; ++i) EXPECT_EQ(run(), first);
  EXPECT_EQ(backend->captures, 1);
  EXPECT_EQ(backend->launches, 3);
  // New memory: the captured work held the old addresses.
  std::vector<char> memory(ex.plan().total_bytes() + 256);
  ex.bind_memory(reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(memory.data()) + 255) / 256 * 256));
  EXPECT_EQ(run(), first);
  EXPECT_EQ(run(), first);
  EXPECT_EQ(backend->captures, 2);
}

TEST(ExecutorCaptureTest, OffRunsNodeByNode) {
  const io::ModelFolder folder =
      io::ModelFolder::open((std::filesystem::path(VISIONRT_SOURCE_DIR) / "tests/fixtures/vit/p16_d64").string());
  const models::VitModel model = models::VitModel::load(folder);
  auto backend = std::make_shared<CapturingBackend>();
  graph::ExecutorOptions options;
  options.capture = false;
  graph::Executor ex(model.build(1, 64, 64, false), backend, nullptr, options);
  std::vector<float> px(3 * 64 * 64, 0.25f), logits(model.config().labels.size());
  for (int i = 0; i < 3; ++i)
    ex.run({Tensor::view(DType::f32, {1, 3, 64, 64}, px.data())},
           {Tensor::view(DType::f32, {1, int64_t(logits.size())}, logits.data())});
  EXPECT_EQ(backend->captures, 0);
}

// A capture that throws leaves the run to go node by node: the same
// results, the capture tried once only, and the reason kept for the caller.
TEST(ExecutorCaptureTest, AFailedCaptureFallsBackToNodeByNodeRuns) {
  const io::ModelFolder folder =
      io::ModelFolder::open((std::filesystem::path(VISIONRT_SOURCE_DIR) / "tests/fixtures/vit/p16_d64").string());
  const models::VitModel model = models::VitModel::load(folder);
  auto backend = std::make_shared<CapturingBackend>();
  backend->refuse_capture = true;
  graph::Executor ex(model.build(1, 64, 64, false), backend);
  std::mt19937 rng(3);
  std::normal_distribution<float> normal;
  std::vector<float> px(3 * 64 * 64);
  for (float& v : px) v = normal(rng);
  const int64_t labels = static_cast<int64_t>(model.config().labels.size());
  auto run = [&] {
    std::vector<float> logits(labels, NAN);
    ex.run({Tensor::view(DType::f32, {1, 3, 64, 64}, px.data())}, {Tensor::view(DType::f32, {1, labels}, logits.data())});
    return logits;
  };
  const std::vector<float> first = run();
  EXPECT_TRUE(ex.capture_notice().empty());
  for (int i = 0; i < 3; ++i) EXPECT_EQ(run(), first) << "run " << i + 2;
  EXPECT_EQ(backend->captures, 1) << "a failed capture is not tried again";
  EXPECT_EQ(backend->launches, 0);
  EXPECT_NE(ex.capture_notice().find("node by node"), std::string::npos) << ex.capture_notice();
  EXPECT_NE(ex.capture_notice().find("operation not permitted"), std::string::npos) << ex.capture_notice();
}

// With staging memory, inputs are copied in at enqueue and outputs reach
// the caller's buffers at wait(), equal to the unstaged run's.
TEST(ExecutorCaptureTest, StagedOutputsArriveAtWait) {
  const io::ModelFolder folder =
      io::ModelFolder::open((std::filesystem::path(VISIONRT_SOURCE_DIR) / "tests/fixtures/vit/p16_d64").string());
  const models::VitModel model = models::VitModel::load(folder);
  const int64_t labels = static_cast<int64_t>(model.config().labels.size());
  std::mt19937 rng(4);
  std::normal_distribution<float> normal;
  std::vector<float> px(3 * 64 * 64);
  for (float& v : px) v = normal(rng);
  auto plain = std::make_shared<CapturingBackend>();
  graph::Executor reference(model.build(1, 64, 64, false), plain);
  std::vector<float> want(labels);
  reference.run({Tensor::view(DType::f32, {1, 3, 64, 64}, px.data())}, {Tensor::view(DType::f32, {1, labels}, want.data())});

  auto staged = std::make_shared<CapturingBackend>();
  staged->stage = true;
  graph::Executor ex(model.build(1, 64, 64, false), staged);
  std::vector<float> input = px, got(labels, NAN);
  ex.enqueue({Tensor::view(DType::f32, {1, 3, 64, 64}, input.data())}, {Tensor::view(DType::f32, {1, labels}, got.data())});
  std::fill(input.begin(), input.end(), 1e9f);  // the run already holds its own copy
  EXPECT_TRUE(std::isnan(got[0])) << "outputs written before wait()";
  ex.wait();
  EXPECT_EQ(got, want);
}

}  // namespace
}  // namespace visionrt

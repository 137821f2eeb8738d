// visionrt C++ API: load a Hugging Face ViT checkpoint folder and classify images.
//
// Every function reports failure by throwing visionrt::Error (see status.hpp),
// whose message names the cause (the file, the tensor, the expected shape).
// Nothing here prints, exits or aborts.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "visionrt/status.hpp"

namespace visionrt {

// The library's version, "MAJOR.MINOR.PATCH".
VISIONRT_API const char* version() noexcept;

// True when the library was built with the OpenCV image front end (decoding
// files and encoded bytes). Without it, only preprocessed tensors are accepted.
VISIONRT_API bool has_image_io() noexcept;

// True when the library was built with CUDA and a usable GPU is present.
VISIONRT_API bool cuda_available() noexcept;

enum class Device { cpu, cuda, automatic };

struct Options {
  Device device = Device::automatic;  // automatic: CUDA when usable, else CPU
  int num_threads = 0;                // CPU worker threads; 0 = all cores
  // Accept input sizes other than the checkpoint's image_size by resampling
  // the position embeddings (bicubic, as transformers' interpolate_pos_encoding).
  bool interpolate_pos_encoding = false;
};

// Images larger than this are refused before any pixel is decoded.
constexpr int64_t kMaxImagePixels = 100'000'000;

struct Label {
  int id = 0;
  std::string name;  // from config.json's id2label; "LABEL_<id>" when absent
  float probability = 0.f;
};

struct ModelInfo {
  std::string architecture;  // e.g. "ViTForImageClassification"
  int image_height = 0, image_width = 0, num_channels = 3;
  int num_labels = 0;
  int64_t num_parameters = 0;
};

class VISIONRT_API Classifier {
 public:
  // Reads config.json, preprocessor_config.json and the safetensors weights
  // (single file or sharded) of a Hugging Face model folder.
  static Classifier load(const std::string& model_dir, const Options& options = {});

  const ModelInfo& info() const;
  Device device() const;
  // Label names by class id, from config.json's id2label.
  const std::vector<std::string>& label_names() const;

  // Logits for a batch of preprocessed images: pixel_values holds
  // n x channels x height x width floats (NCHW), as the checkpoint's
  // image processor makes them. Returns n x num_labels logits.
  std::vector<float> logits(const float* pixel_values, int n, int height, int width) const;

  // Top-k labels by softmax probability for each image of a preprocessed batch.
  std::vector<std::vector<Label>> classify(const float* pixel_values, int n, int height,
                                           int width, int topk = 5) const;

  // Decodes, preprocesses (as preprocessor_config.json says) and classifies
  // image files or encoded image bytes. Needs has_image_io().
  std::vector<std::vector<Label>> classify_files(const std::vector<std::string>& paths,
                                                 int topk = 5) const;
  std::vector<Label> classify_encoded(const uint8_t* data, size_t size, int topk = 5) const;

  // Decodes and preprocesses one image file into pixel_values (channels x
  // height x width floats), exactly as classify_files does.
  std::vector<float> preprocess_file(const std::string& path) const;

  // Peak bytes of intermediate activations planned for the largest batch run so far.
  size_t peak_activation_bytes() const;

  struct Impl;

 private:
  explicit Classifier(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace visionrt

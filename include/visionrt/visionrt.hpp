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

#include "visionrt/image.hpp"
#include "visionrt/status.hpp"

namespace visionrt {

// The library's version, "MAJOR.MINOR.PATCH".
VISIONRT_API const char* version() noexcept;

// True when the library was built with the OpenCV image front end (decoding
// files and encoded bytes). Without it, only preprocessed tensors are accepted.
VISIONRT_API bool has_image_io() noexcept;

// True when the library was built with its CUDA backend (a library of its
// own, loaded only when a model runs on a GPU). Asks no driver.
VISIONRT_API bool has_cuda_backend() noexcept;

// True when the library was built with CUDA and the NVIDIA driver reports a
// GPU. Loads the driver's library (libcuda.so.1) where one is installed.
VISIONRT_API bool cuda_available() noexcept;

// What "all cores" means wherever a thread count of 0 is taken (Options'
// num_threads, the tool's --threads): the processors this process may run
// on (its affinity mask), at least 1.
VISIONRT_API int hardware_threads() noexcept;

enum class Device { cpu, cuda, automatic };

// The arithmetic of matrix products and convolutions, always accumulated
// in fp32. fp32 throughout; or bf16 operands, on CPUs with AVX-512 BF16 or
// AMX (activations, LayerNorm and softmax stay fp32) and on GPUs. On GPUs
// only: fp16 (activations and weights in fp16 or bf16, LayerNorm and
// softmax statistics in fp32), and tf32 (fp32 data, matrix products on
// tensor cores with 10-bit mantissas).
enum class Precision { fp32, bf16, fp16, tf32 };

// The one spelling of devices ("cpu", "cuda", "auto") and precisions
// ("fp32", "bf16", "fp16", "tf32") that the tool, the Python package and
// serving use. parse_* return false for any other text.
VISIONRT_API const char* device_name(Device device) noexcept;
VISIONRT_API bool parse_device(const std::string& text, Device* device) noexcept;
VISIONRT_API const char* precision_name(Precision precision) noexcept;
VISIONRT_API bool parse_precision(const std::string& text, Precision* precision) noexcept;

struct Options {
  Device device = Device::automatic;  // automatic: CUDA when usable, else CPU
  int num_threads = 0;                // CPU worker threads; 0 = all cores
  Precision precision = Precision::fp32;
  // Accept input sizes other than the checkpoint's image_size by resampling
  // the position embeddings (bicubic, as transformers' interpolate_pos_encoding).
  bool interpolate_pos_encoding = false;
  // GPU: from its second run, launch each planned input shape's kernels as
  // one captured CUDA graph.
  bool cuda_graphs = true;
};

// Images larger than this are refused before any pixel is decoded.
constexpr int64_t kMaxImagePixels = 100'000'000;

// Limits on what the library reads, each checked before anything is read
// or sized from it; past one, loading or decoding fails with one error that
// names the file and key:
//   image files: regular files of at most 1 GiB, kMaxImagePixels pixels;
//     a progressive JPEG of at most 1000 scans decoding at most 2^27 8x8
//     blocks in all; PNG sides up to 1,000,000 pixels (libpng's limit);
//   config.json, preprocessor_config.json, safetensors index: regular files
//     of at most 16 MiB, JSON nested at most 64 levels deep;
//   safetensors header: at most 100,000,000 bytes, within its file, and
//     100,000 entries;
//   weights: finite (no NaN or infinity), else the tensor is named; a
//     non-finite output is an error naming the output;
//   num_labels / id2label: at most 1,000,000 labels;
//   preprocessor sizes: at most 8192 a side and 2^26 pixels;
//   config integers: image_size and patch_size 1..16384, widths up to
//     65536, feed-forward widths up to 262144, layers 1..1024 (a DETR
//     encoder may have 0), heads up to 4096, channels up to 1024, queries
//     up to 100,000, backbone stage depths 1..1024;
//   a checkpoint holding tensors the config does not use is refused, and so
//   is a config key transformers reads that visionrt cannot honour.
//
// Threads: load() may run on several threads at once. A loaded Classifier
// or Detector may be shared by any number of threads, every method being
// const: runs of one model are serialised inside it (each thread gets
// bitwise the results it would get alone), image decoding and
// preprocessing run in parallel. Different models run concurrently, on the
// CPU each on its own threads, on the GPU each on its own stream.

// Decodes an image file (JPEG, PNG, BMP, WebP, TIFF) or encoded bytes.
// Needs has_image_io().
VISIONRT_API Image load_image(const std::string& path);
VISIONRT_API Image decode_image(const uint8_t* data, size_t size);

struct Label {
  int id = 0;
  std::string name;  // from config.json's id2label; "LABEL_<id>" when absent
  // Its score as transformers' image-classification pipeline gives it: the
  // softmax probability; for a config.json problem_type of
  // "multi_label_classification" or a single label, the sigmoid of its
  // logit; for "regression", the logit itself.
  float probability = 0.f;
};

struct ModelInfo {
  std::string architecture;  // e.g. "ViTForImageClassification"
  int image_height = 0, image_width = 0, num_channels = 3;  // the checkpoint's image_size
  // The size classify_files and preprocess_file prepare images to: the
  // checkpoint's, or with interpolate_pos_encoding the preprocessor's own
  // fixed size. For a detector, its processor's fixed size (the real-time
  // DETRs'), or 0 where each image keeps its aspect ratio (DETR's).
  int input_height = 0, input_width = 0;
  int num_labels = 0;
  int64_t num_parameters = 0;
  // The detector's object queries, the most detections an image can get;
  // 0 for the classifier.
  int num_queries = 0;
};

class VISIONRT_API Classifier {
 public:
  // Reads config.json, preprocessor_config.json and the safetensors weights
  // (single file or sharded) of a Hugging Face model folder.
  static Classifier load(const std::string& model_dir, const Options& options = {});

  const ModelInfo& info() const;
  // Where the model runs: cpu or cuda (automatic resolved at load).
  Device device() const;
  // Why Device::automatic did not pick the GPU ("no NVIDIA driver ..."),
  // or empty: for the caller to show, the library never prints.
  const std::string& device_notice() const;
  // Label names by class id, from config.json's id2label.
  const std::vector<std::string>& label_names() const;

  // Logits for a batch of preprocessed images: pixel_values holds
  // n x channels x height x width floats (NCHW), as the checkpoint's
  // image processor makes them. Returns n x num_labels logits.
  std::vector<float> logits(const float* pixel_values, int n, int height, int width) const;

  // Top-k labels by score (Label::probability) for each image of a preprocessed batch.
  std::vector<std::vector<Label>> classify(const float* pixel_values, int n, int height,
                                           int width, int topk = 5) const;

  // Decodes, preprocesses (as preprocessor_config.json says) and classifies
  // image files or encoded image bytes. Needs has_image_io().
  std::vector<std::vector<Label>> classify_files(const std::vector<std::string>& paths,
                                                 int topk = 5) const;
  std::vector<Label> classify_encoded(const uint8_t* data, size_t size, int topk = 5) const;

  // Decodes and preprocesses one image file into pixel_values (channels x
  // input_height x input_width floats), exactly as classify_files does.
  std::vector<float> preprocess_file(const std::string& path) const;
  // The same for an image already decoded (load_image, decode_image).
  std::vector<float> preprocess(const Image& image) const;

  // Floating-point operations of one forward pass over n images of
  // height x width (two per multiply-add of the matrix products).
  double forward_flops(int n, int height, int width) const;

  // Bytes of activation and scratch memory held now: one block, sized for
  // the largest batch and image size planned among those kept (the eight
  // most recently used).
  size_t peak_activation_bytes() const;

 private:
  struct Impl;
  explicit Classifier(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

// Image features from a Vision Transformer's encoder (DINOv2 above all),
// as transformers' pipeline("image-feature-extraction") gives them: the
// tokens after the encoder's last normalisation, or one vector per image.
enum class Pooling {
  cls,     // the class token (DINOv2's pooler_output)
  mean,    // the mean of the patch tokens (past class and register tokens)
  tokens,  // every token: prefix tokens first, then the patches in raster order
};

class VISIONRT_API Embedder {
 public:
  // Any model Classifier loads, or its base model without a head
  // (ViTModel, DeiTModel, Dinov2Model, Dinov2WithRegistersModel).
  static Embedder load(const std::string& model_dir, const Options& options = {});

  const ModelInfo& info() const;
  Device device() const;
  const std::string& device_notice() const;
  int hidden_size() const;
  // Tokens per image of height x width: prefix tokens plus patches.
  int num_tokens(int height, int width) const;

  // n x num_tokens x hidden_size floats for a preprocessed batch (NCHW).
  std::vector<float> tokens(const float* pixel_values, int n, int height, int width) const;
  // n x hidden_size floats (or the tokens, for Pooling::tokens).
  std::vector<float> embed(const float* pixel_values, int n, int height, int width, Pooling pooling) const;
  // Decodes, preprocesses and embeds image files; one vector (or token
  // matrix) per file. Needs has_image_io().
  std::vector<std::vector<float>> embed_files(const std::vector<std::string>& paths, Pooling pooling) const;
  // Decodes and preprocesses one image file (or prepares a decoded image)
  // into pixel_values: channels x input_height x input_width floats.
  std::vector<float> preprocess_file(const std::string& path) const;
  std::vector<float> preprocess(const Image& image) const;

  // As Classifier's: operations of one pass, activation memory held now.
  double forward_flops(int n, int height, int width) const;
  size_t peak_activation_bytes() const;

 private:
  struct Impl;
  explicit Embedder(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

// A box in pixels of the original image: corners (x0, y0) top-left and
// (x1, y1) bottom-right.
struct Box {
  float x0 = 0, y0 = 0, x1 = 0, y1 = 0;
};

struct Detection {
  int id = 0;        // class id, a key of config.json's id2label
  std::string name;  // its label name
  float score = 0;   // softmax probability of that class
  Box box;
  int query = 0;     // the object query that found it (transformers' pipeline lists them in query order)
};

// A detector's raw outputs for a batch, row-major.
struct DetrOutputs {
  int batch = 0, queries = 0;
  // DETR: labels + 1 columns, "no object" last, scored by a softmax; the
  // real-time DETRs (sigmoid_scores): one column per label, each scored by
  // its sigmoid.
  int classes = 0;
  bool sigmoid_scores = false;
  std::vector<float> logits;  // batch x queries x classes
  std::vector<float> boxes;   // batch x queries x 4: cx, cy, w, h in [0, 1]
};

// A batch prepared as DetrImageProcessor prepares it: each image resized
// (shortest/longest edge), normalised and padded bottom-right to the batch's
// largest size, with a mask of its valid pixels.
struct DetrBatch {
  int n = 0, height = 0, width = 0;
  std::vector<float> pixel_values;  // n x 3 x height x width
  std::vector<float> pixel_mask;    // n x height x width: 1 valid, 0 padding
  std::vector<int> original_width, original_height;  // per image, before resizing
};

class VISIONRT_API Detector {
 public:
  // Reads a DetrForObjectDetection, RTDetrForObjectDetection,
  // RTDetrV2ForObjectDetection or DFineForObjectDetection folder
  // (config.json, safetensors weights, preprocessor_config.json). DETR
  // backbones: timm or transformers ResNet-18/34/50/101; RT-DETR's:
  // ResNet-vd (rt_detr_resnet); D-FINE's: HGNetV2 (hgnet_v2).
  static Detector load(const std::string& model_dir, const Options& options = {});

  const ModelInfo& info() const;
  // Where the model runs: cpu or cuda (automatic resolved at load).
  Device device() const;
  // As Classifier::device_notice.
  const std::string& device_notice() const;
  const std::vector<std::string>& label_names() const;

  // Raw outputs for a prepared batch. pixel_mask may be null (no padding).
  DetrOutputs forward(const float* pixel_values, const float* pixel_mask, int n, int height,
                      int width) const;
  DetrOutputs forward(const DetrBatch& batch) const;

  // As transformers' post_process_object_detection: softmax, drop "no
  // object", keep scores above threshold, (cx, cy, w, h) -> corners scaled to
  // the image's original size. No NMS. Sorted by descending score.
  std::vector<Detection> post_process(const DetrOutputs& outputs, int index, int image_width,
                                      int image_height, float threshold) const;

  // Decodes and prepares image files as one padded batch. Needs has_image_io().
  DetrBatch prepare_files(const std::vector<std::string>& paths) const;
  // The same for images already decoded.
  DetrBatch prepare(const std::vector<Image>& images) const;
  // The whole pipeline on image files or encoded bytes. Images of the same
  // prepared size share a batch; an image's detections do not depend on the
  // other images given with it.
  std::vector<std::vector<Detection>> detect_files(const std::vector<std::string>& paths,
                                                   float threshold = 0.7f) const;
  std::vector<Detection> detect_encoded(const uint8_t* data, size_t size, float threshold = 0.7f) const;
  // The same on decoded images; images of the same prepared size run as one batch.
  std::vector<std::vector<Detection>> detect(const std::vector<Image>& images,
                                             float threshold = 0.7f) const;

  // Writes a copy of an image with the detections drawn on it (boxes, label
  // names, scores); the format follows out_path's extension.
  void draw(const Image& image, const std::vector<Detection>& detections,
            const std::string& out_path) const;

  // As Classifier::forward_flops.
  double forward_flops(int n, int height, int width) const;

  // As Classifier::peak_activation_bytes.
  size_t peak_activation_bytes() const;

 private:
  struct Impl;
  explicit Detector(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace visionrt

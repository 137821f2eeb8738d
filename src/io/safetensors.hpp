// Reader for the safetensors format (https://github.com/huggingface/safetensors):
// an 8-byte little-endian header length, a JSON header, then a data section.
// The file is memory-mapped and fully validated before any tensor is used.
#pragma once
#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.hpp"

namespace visionrt::io {

// Headers larger than this are refused (the reference implementation's limit).
constexpr size_t kMaxSafetensorsHeader = 100'000'000;

// Header entries (tensors, and __metadata__) beyond this are refused while
// the header is parsed. Checkpoints hold a few thousand tensors a file at
// most (ViT-B/16: 200, DETR-R50: about 500); 300,000 empty entries fit in
// the header size limit and cost seconds and 350 MB to read.
constexpr size_t kMaxSafetensorsEntries = 100'000;

struct TensorEntry {
  std::string name;
  DType dtype = DType::f32;
  Shape shape;
  size_t begin = 0, end = 0;  // byte range inside the data section
};

class SafetensorsFile {
 public:
  // Maps and validates `path`. Throws Error (not_found, io_error or
  // corrupt_file) naming the file and what is wrong with it:
  // header length beyond the file or over kMaxSafetensorsHeader, or more
  // than kMaxSafetensorsEntries entries in it; malformed
  // JSON or duplicate keys; unknown dtype; shape x dtype size != byte range,
  // or a shape whose element count (multiplied in order) overflows int64;
  // ranges outside the data section, overlapping, or leaving bytes unaccounted.
  static std::shared_ptr<SafetensorsFile> open(const std::string& path);
  // Validates `size` bytes already in memory exactly as open() validates a
  // file; `name` stands for the path in errors. The bytes are not copied:
  // they must outlive the file and every view of it.
  static std::shared_ptr<SafetensorsFile> from_memory(const void* data, size_t size, const std::string& name);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::vector<TensorEntry>& entries() const { return entries_; }
  const TensorEntry* find(const std::string& name) const;  // null when absent
  // A zero-copy view of the tensor's bytes; keeps the mapping alive.
  Tensor view(const TensorEntry& entry) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  SafetensorsFile() = default;
  // The validation open() and from_memory() share: fills entries_, index_,
  // metadata_ and data_ from the whole file's bytes, or throws.
  void parse(const unsigned char* bytes, size_t size);
  std::string path_;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  const unsigned char* data_ = nullptr;  // start of the data section
  std::vector<TensorEntry> entries_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
  std::weak_ptr<SafetensorsFile> self_;
};

// The weights of a model folder: model.safetensors, or the shards listed by
// model.safetensors.index.json (shard names must stay inside the folder).
// Index of the first NaN or infinite element of an F32, F16 or BF16 tensor,
// or -1 when every element is finite (other dtypes: -1).
int64_t first_non_finite(const Tensor& t);

class WeightStore {
 public:
  static WeightStore open_folder(const std::string& dir);

  bool contains(const std::string& name) const;
  // The tensor as stored (F32, F16 or BF16), zero-copy. Throws not_found
  // naming the tensor when absent.
  Tensor raw(const std::string& name) const;
  // The tensor as stored, zero-copy, after checking its shape and dtype: a
  // shape other than `expected` throws shape_mismatch naming the tensor and
  // both shapes; a dtype other than F32, F16 or BF16 throws unsupported;
  // a NaN or infinite element throws corrupt_file naming the tensor (a model
  // would otherwise answer NaN scores as if they were results).
  Tensor checked(const std::string& name, const Shape& expected) const;
  // The same, converted to a new F32 tensor.
  Tensor f32(const std::string& name, const Shape& expected) const;
  std::vector<std::string> names() const;

 private:
  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::map<std::string, std::pair<size_t, const TensorEntry*>> where_;
};

}  // namespace visionrt::io

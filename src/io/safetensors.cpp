#include "io/safetensors.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/json_text.hpp"
#include "io/model_folder.hpp"

namespace visionrt::io {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// The dtypes visionrt computes with. Other names the format defines are
// refused as unsupported; names it does not define mean a corrupt header.
bool parse_dtype(const std::string& name, DType* out) {
  static const std::pair<const char*, DType> known[] = {
      {"F32", DType::f32}, {"F16", DType::f16}, {"BF16", DType::bf16},
      {"U8", DType::u8},   {"I32", DType::i32}, {"I64", DType::i64}};
  for (const auto& [text, dtype] : known) {
    if (name == text) {
      *out = dtype;
      return true;
    }
  }
  return false;
}

bool is_format_dtype(const std::string& name) {
  static const char* const defined[] = {"BOOL", "U8",  "I8",  "I16",    "U16",    "F16",
                                        "BF16", "I32", "U32", "F32",    "F64",    "I64",
                                        "U64",  "F8_E4M3", "F8_E5M2", "F8_E8M0", "F4",
                                        "F6_E2M3", "F6_E3M2", "C64"};
  return std::find(std::begin(defined), std::end(defined), name) != std::end(defined);
}

TensorEntry parse_entry(const std::string& path, const std::string& name, const json& info,
                        size_t data_size) {
  auto corrupt = [&](auto&&... what) {
    fail(StatusCode::corrupt_file, path, ": tensor '", name, "': ", what...);
  };
  if (!info.is_object()) corrupt("entry must be a JSON object");
  TensorEntry entry;
  entry.name = name;

  const auto dtype = info.find("dtype");
  if (dtype == info.end() || !dtype->is_string()) corrupt("\"dtype\" must be a string");
  const std::string& dtype_text = dtype->get_ref<const std::string&>();
  if (!parse_dtype(dtype_text, &entry.dtype)) {
    if (is_format_dtype(dtype_text))
      fail(StatusCode::unsupported, path, ": tensor '", name, "' has dtype ", dtype_text,
           ", which visionrt does not support");
    corrupt("unknown dtype \"", dtype_text, "\"");
  }

  const auto shape = info.find("shape");
  if (shape == info.end() || !shape->is_array()) corrupt("\"shape\" must be an array");
  for (const json& dim : *shape) {
    // Non-negative integers parse as unsigned; negative ones and floats do not.
    if (!dim.is_number_unsigned() ||
        dim.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      corrupt("shape ", describe_json(*shape), " must hold non-negative integers");
    entry.shape.push_back(static_cast<int64_t>(dim.get<uint64_t>()));
  }

  const auto offsets = info.find("data_offsets");
  if (offsets == info.end() || !offsets->is_array() || offsets->size() != 2 ||
      !(*offsets)[0].is_number_unsigned() || !(*offsets)[1].is_number_unsigned())
    corrupt("\"data_offsets\" must be two non-negative integers");
  const uint64_t begin = (*offsets)[0].get<uint64_t>();
  const uint64_t end = (*offsets)[1].get<uint64_t>();
  if (begin > end) corrupt("data_offsets ", describe_json(*offsets), " end before they begin");
  if (end > data_size)
    corrupt("data_offsets ", describe_json(*offsets), " run past the end of the ", data_size,
            "-byte data section");

  // The element count, multiplied in order as shape_numel() multiplies it,
  // refusing shapes whose running product overflows, as the reference reader
  // does: [2^62, 2^62, 0] holds no element, but Tensor::numel() could not
  // count them. Then the byte count, which must not overflow either.
  constexpr uint64_t kMaxCount = std::numeric_limits<int64_t>::max();
  uint64_t count = 1;
  for (int64_t dim : entry.shape) {
    if (dim != 0 && count > kMaxCount / static_cast<uint64_t>(dim))
      corrupt("shape ", shape_str(entry.shape), " is too large");
    count *= static_cast<uint64_t>(dim);
  }
  if (count > std::numeric_limits<uint64_t>::max() / dtype_size(entry.dtype))
    corrupt("shape ", shape_str(entry.shape), " is too large");
  const uint64_t bytes = count * dtype_size(entry.dtype);
  if (bytes != end - begin)
    corrupt("shape ", shape_str(entry.shape), " of ", dtype_text, " needs ", bytes,
            " bytes, but data_offsets ", describe_json(*offsets), " hold ", end - begin);
  entry.begin = static_cast<size_t>(begin);
  entry.end = static_cast<size_t>(end);
  return entry;
}

// Tensors must tile the data section exactly, as the reference reader demands:
// sorted by offset, each starts where the previous ended, and the last ends at
// the end of the section. Overlaps could alias weights; gaps hide data.
void check_coverage(const std::string& path, const std::vector<TensorEntry>& entries,
                    size_t data_size) {
  std::vector<const TensorEntry*> by_offset;
  for (const TensorEntry& e : entries) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(), [](const TensorEntry* a, const TensorEntry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  size_t covered = 0;
  const TensorEntry* previous = nullptr;
  for (const TensorEntry* e : by_offset) {
    if (e->begin < covered)
      fail(StatusCode::corrupt_file, path, ": tensor '", e->name, "' (bytes ", e->begin, "..",
           e->end, ") overlaps tensor '", previous->name, "' (bytes ", previous->begin, "..",
           previous->end, ")");
    if (e->begin > covered)
      fail(StatusCode::corrupt_file, path, ": bytes ", covered, "..", e->begin,
           " of the data section belong to no tensor");
    covered = e->end;
    previous = e;
  }
  if (covered != data_size)
    fail(StatusCode::corrupt_file, path, ": the last ", data_size - covered, " bytes of the ",
         data_size, "-byte data section belong to no tensor");
}

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() { ::close(fd_); }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// Refuses shard names from an index that could reach outside the model folder.
// The check is lexical on purpose: Hugging Face cache snapshots hold every file
// as a symlink into a shared blob folder, so resolved paths legitimately lie
// elsewhere; what must not happen is the index itself pointing elsewhere.
void check_shard_name(const std::string& index_path, const std::string& shard) {
  const fs::path relative(shard);
  bool escapes = shard.empty() || relative.is_absolute() || relative.has_root_path();
  for (const fs::path& part : relative) escapes = escapes || part == "..";
  if (escapes)
    fail(StatusCode::corrupt_file, index_path, ": shard file name '", shard,
         "' must be a relative name inside the model folder");
}

// Elements whose exponent bits are all ones (NaN or infinity), counted a
// block at a time: the branch-free inner loop vectorises, and the exact
// element is looked for only in a block that has one.
template <typename Bits>
int64_t first_all_ones(const Bits* data, int64_t n, Bits exponent) {
  constexpr int64_t kBlock = 4096;
  for (int64_t begin = 0; begin < n; begin += kBlock) {
    const int64_t end = std::min(n, begin + kBlock);
    Bits hits = 0;
    for (int64_t i = begin; i < end; ++i) hits |= static_cast<Bits>((data[i] & exponent) == exponent);
    if (!hits) continue;
    for (int64_t i = begin; i < end; ++i)
      if ((data[i] & exponent) == exponent) return i;
  }
  return -1;
}

}  // namespace

int64_t first_non_finite(const Tensor& t) {
  switch (t.dtype()) {
    case DType::f32:
      return first_all_ones(static_cast<const uint32_t*>(t.data()), t.numel(), uint32_t{0x7F800000});
    case DType::f16:
      return first_all_ones(static_cast<const uint16_t*>(t.data()), t.numel(), uint16_t{0x7C00});
    case DType::bf16:
      return first_all_ones(static_cast<const uint16_t*>(t.data()), t.numel(), uint16_t{0x7F80});
    default:
      return -1;
  }
}

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  // Checked before opening: opening a FIFO for reading would wait for a
  // writer. O_NONBLOCK and the fstat below cover a file swapped in meanwhile.
  struct stat before {};
  if (::stat(path.c_str(), &before) == 0 && !S_ISREG(before.st_mode))
    fail(StatusCode::io_error, path, ": not a regular file");
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT || err == ENOTDIR) fail(StatusCode::not_found, path, ": file does not exist");
    fail(StatusCode::io_error, path, ": cannot open: ", std::strerror(err));
  }
  const FileDescriptor file_descriptor(fd);
  struct stat info {};
  if (::fstat(fd, &info) != 0)
    fail(StatusCode::io_error, path, ": cannot stat: ", std::strerror(errno));
  if (!S_ISREG(info.st_mode)) fail(StatusCode::io_error, path, ": not a regular file");
  const size_t file_size = static_cast<size_t>(info.st_size);

  std::shared_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;
  file->self_ = file;
  // An empty file cannot be mapped; parse() refuses it as too short.
  if (file_size > 0) {
    void* map = ::mmap(nullptr, file_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) fail(StatusCode::io_error, path, ": cannot map: ", std::strerror(errno));
    file->map_ = map;  // from here on the destructor unmaps, also when validation throws
    file->map_size_ = file_size;
  }
  file->parse(static_cast<const unsigned char*>(file->map_), file_size);
  return file;
}

std::shared_ptr<SafetensorsFile> SafetensorsFile::from_memory(const void* data, size_t size,
                                                              const std::string& name) {
  std::shared_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = name;
  file->self_ = file;
  file->parse(static_cast<const unsigned char*>(data), size);
  return file;
}

void SafetensorsFile::parse(const unsigned char* bytes, size_t file_size) {
  const std::string& path = path_;
  if (file_size < 8)
    fail(StatusCode::corrupt_file, path, ": file is ", file_size,
         " bytes, too short for the 8-byte header length");
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = header_size << 8 | bytes[i];
  if (header_size == 0) fail(StatusCode::corrupt_file, path, ": header length is 0");
  if (header_size > kMaxSafetensorsHeader)
    fail(StatusCode::corrupt_file, path, ": header length ", header_size, " exceeds the limit of ",
         kMaxSafetensorsHeader, " bytes");
  if (header_size > file_size - 8)
    fail(StatusCode::corrupt_file, path, ": header length ", header_size,
         " runs past the end of the ", file_size, "-byte file");

  // The header may be padded with trailing spaces, which JSON allows.
  const char* header_text = reinterpret_cast<const char*>(bytes + 8);
  const json header = parse_json_text(header_text, header_text + header_size, path + ": header",
                                      kMaxSafetensorsEntries, "entries");
  if (!header.is_object()) fail(StatusCode::corrupt_file, path, ": header must be a JSON object");

  const size_t data_size = file_size - 8 - static_cast<size_t>(header_size);
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (it->is_null()) continue;
      if (!it->is_object())
        fail(StatusCode::corrupt_file, path, ": __metadata__ must be an object of strings");
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string())
          fail(StatusCode::corrupt_file, path, ": __metadata__ value of '", m.key(),
               "' must be a string");
        metadata_[m.key()] = m->get<std::string>();
      }
      continue;
    }
    entries_.push_back(parse_entry(path, it.key(), *it, data_size));
  }
  check_coverage(path, entries_, data_size);
  for (size_t i = 0; i < entries_.size(); ++i) index_[entries_[i].name] = i;
  data_ = bytes + 8 + header_size;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) ::munmap(map_, map_size_);
}

const TensorEntry* SafetensorsFile::find(const std::string& name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

Tensor SafetensorsFile::view(const TensorEntry& entry) const {
  // The mapping is read-only: views share it, and writing through one faults.
  void* bytes = const_cast<unsigned char*>(data_ + entry.begin);
  if (entry.begin == entry.end || reinterpret_cast<uintptr_t>(bytes) % dtype_size(entry.dtype) == 0) {
    // Only pages of a file mapping may be released (they are read back from
    // the file); bytes given to from_memory are the caller's.
    if (!map_) return Tensor::view(entry.dtype, entry.shape, bytes, self_.lock());
    return Tensor::mapped(entry.dtype, entry.shape, bytes, self_.lock());
  }
  // Writers that predate header padding can leave tensors misaligned for their
  // element type; those are copied so that typed access stays well-defined.
  Tensor copy = Tensor::empty(entry.dtype, entry.shape);
  std::memcpy(copy.data(), bytes, entry.end - entry.begin);
  return copy;
}

WeightStore WeightStore::open_folder(const std::string& dir) {
  const fs::path folder(dir);
  const fs::path index_path = folder / "model.safetensors.index.json";
  const fs::path single_path = folder / "model.safetensors";
  WeightStore store;
  std::error_code error;

  if (!fs::exists(index_path, error)) {
    if (!fs::exists(single_path, error))
      fail(StatusCode::not_found, "no weights in '", dir,
           "': neither model.safetensors.index.json nor model.safetensors exists");
    store.files_.push_back(SafetensorsFile::open(single_path.string()));
    for (const TensorEntry& e : store.files_[0]->entries()) store.where_[e.name] = {0, &e};
    return store;
  }

  const std::string index_name = index_path.string();
  const json index = read_json_file(index_name);
  const auto weight_map = index.is_object() ? index.find("weight_map") : index.end();
  if (!index.is_object() || weight_map == index.end() || !weight_map->is_object())
    fail(StatusCode::corrupt_file, index_name,
         ": \"weight_map\" must be an object of tensor name -> shard file");
  if (weight_map->empty()) fail(StatusCode::corrupt_file, index_name, ": weight_map lists no tensors");

  // Each distinct shard is opened once, in name order.
  std::map<std::string, size_t> shard_slot;
  for (auto it = weight_map->begin(); it != weight_map->end(); ++it) {
    if (!it->is_string())
      fail(StatusCode::corrupt_file, index_name, ": shard of tensor '", it.key(),
           "' must be a file name");
    const std::string& shard = it->get_ref<const std::string&>();
    if (shard_slot.count(shard)) continue;
    check_shard_name(index_name, shard);
    shard_slot[shard] = store.files_.size();
    store.files_.push_back(SafetensorsFile::open((folder / shard).string()));
  }
  for (size_t slot = 0; slot < store.files_.size(); ++slot) {
    for (const TensorEntry& e : store.files_[slot]->entries()) {
      const auto [it, added] = store.where_.try_emplace(e.name, slot, &e);
      if (!added)
        fail(StatusCode::corrupt_file, "tensor '", e.name, "' is stored twice: in ",
             store.files_[it->second.first]->path(), " and in ", store.files_[slot]->path());
    }
  }
  for (auto it = weight_map->begin(); it != weight_map->end(); ++it) {
    const auto found = store.where_.find(it.key());
    const size_t slot = shard_slot.at(it->get<std::string>());
    if (found == store.where_.end() || found->second.first != slot)
      fail(StatusCode::corrupt_file, index_name, ": tensor '", it.key(), "' is listed in ",
           it->get<std::string>(), ", which does not hold it");
  }
  return store;
}

bool WeightStore::contains(const std::string& name) const { return where_.count(name) != 0; }

Tensor WeightStore::raw(const std::string& name) const {
  const auto it = where_.find(name);
  if (it == where_.end()) {
    const std::string dir =
        files_.empty() ? std::string() : fs::path(files_.front()->path()).parent_path().string();
    fail(StatusCode::not_found, "missing tensor '", name, "' in ", dir.empty() ? "." : dir);
  }
  return files_[it->second.first]->view(*it->second.second);
}

Tensor WeightStore::f32(const std::string& name, const Shape& expected) const {
  const Tensor stored = checked(name, expected);
  Tensor converted = to_f32(stored);
  stored.release_pages();  // the caller keeps the copy only
  return converted;
}

Tensor WeightStore::checked(const std::string& name, const Shape& expected) const {
  Tensor stored = raw(name);
  if (stored.shape() != expected)
    fail(StatusCode::shape_mismatch, "tensor '", name, "' has shape ", shape_str(stored.shape()),
         ", expected ", shape_str(expected));
  const DType dtype = stored.dtype();
  if (dtype != DType::f32 && dtype != DType::f16 && dtype != DType::bf16)
    fail(StatusCode::unsupported, "tensor '", name, "' is ", dtype_name(dtype),
         "; weights must be F32, F16 or BF16");
  if (const int64_t at = first_non_finite(stored); at >= 0)
    fail(StatusCode::corrupt_file, "tensor '", name, "' holds a non-finite value (NaN or infinity) at element ",
         at, " of ", stored.numel());
  return stored;
}

std::vector<std::string> WeightStore::names() const {
  std::vector<std::string> out;
  out.reserve(where_.size());
  for (const auto& [name, location] : where_) out.push_back(name);
  return out;
}

}  // namespace visionrt::io

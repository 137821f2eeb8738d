// Bounds-checked reads of image headers, shared by the format checks.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace visionrt::io {

// Little- or big-endian reads that never go past the end: a read out of
// range returns 0 and clears ok(), so parsers check once at the end.
class ByteReader {
 public:
  ByteReader(const uint8_t* data, size_t size, bool big_endian = false)
      : data_(data), size_(size), big_endian_(big_endian) {}

  bool has(size_t pos, size_t len) const { return pos <= size_ && len <= size_ - pos; }
  bool ok() const { return ok_; }
  size_t size() const { return size_; }
  const uint8_t* at(size_t pos) const { return data_ + pos; }
  void set_big_endian(bool big) { big_endian_ = big; }

  uint64_t uint(size_t pos, int bytes) {
    if (!has(pos, static_cast<size_t>(bytes))) {
      ok_ = false;
      return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) {
      const uint64_t byte = data_[pos + i];
      v |= big_endian_ ? byte << (8 * (bytes - 1 - i)) : byte << (8 * i);
    }
    return v;
  }
  bool matches(size_t pos, const char* text, size_t len) const {
    return has(pos, len) && std::memcmp(data_ + pos, text, len) == 0;
  }
  ByteReader slice(size_t pos, size_t len) const {
    return has(pos, len) ? ByteReader(data_ + pos, len) : ByteReader(data_, 0);
  }

 private:
  const uint8_t* data_;
  size_t size_;
  bool big_endian_;
  bool ok_ = true;
};

}  // namespace visionrt::io

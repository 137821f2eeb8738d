// A small owner of device memory for tests, benchmarks and callers that do not
// plan their own, plus device queries. Plain C++: no CUDA types.
#pragma once
#include <cstddef>
#include <string>

namespace visionrt::kernels {

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes);  // throws out_of_memory / device_error
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& other) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* data() const { return data_; }
  size_t size() const { return size_; }

  // Synchronous copies of `bytes` (at most size()) to and from the host.
  void upload(const void* host, size_t bytes);
  void download(void* host, size_t bytes) const;
  // Sets every byte to `value` (0xff makes every f32, f16 and bf16 a NaN).
  void fill_bytes(unsigned char value);

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
};

// Number of usable CUDA devices; 0 with the reason in *why when there are none
// or the runtime cannot start (no driver, for example). Never throws.
int cuda_device_count(std::string* why);

// Waits for all queued device work; throws device_error if any of it failed.
void device_synchronize();

}  // namespace visionrt::kernels

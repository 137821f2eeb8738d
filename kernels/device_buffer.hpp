// A small owner of device memory for tests, benchmarks and callers that do not
// plan their own, a stream owner and CUDA graph capture of launcher calls,
// plus device queries. Plain C++: no CUDA types.
#pragma once
#include <cstddef>
#include <functional>
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

// Owns a CUDA stream created non-blocking: it does not synchronise with the
// legacy default stream, so work a launcher wrongly sends there is not
// silently ordered with the work on this stream.
class DeviceStream {
 public:
  DeviceStream();  // throws device_error
  ~DeviceStream();
  DeviceStream(const DeviceStream&) = delete;
  DeviceStream& operator=(const DeviceStream&) = delete;

  void* get() const { return stream_; }  // cudaStream_t

 private:
  void* stream_ = nullptr;
};

// Records what `enqueue` puts on `stream` into a CUDA graph, in the global
// capture mode (allocation, synchronisation and work sent to the legacy
// default stream fail during it), then runs the graph once on `stream` and
// waits for it. Throws device_error when capture, instantiation or the run
// fails, and rethrows what `enqueue` throws after ending the capture.
void run_as_graph(const DeviceStream& stream, const std::function<void()>& enqueue);

// Number of usable CUDA devices; 0 with the reason in *why when there are none
// or the runtime cannot start (no driver, for example). Never throws.
int cuda_device_count(std::string* why);

// Waits for all queued device work; throws device_error if any of it failed.
void device_synchronize();

}  // namespace visionrt::kernels

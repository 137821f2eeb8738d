// Device memory and stream owners, graph capture and device queries over the
// CUDA runtime.
#include <utility>

#include "kernels/cuda_common.cuh"
#include "kernels/device_buffer.hpp"

namespace visionrt::kernels {

DeviceBuffer::DeviceBuffer(size_t bytes) : size_(bytes) {
  if (bytes > 0) check_cuda(cudaMalloc(&data_, bytes), "cudaMalloc");
}

DeviceBuffer::~DeviceBuffer() {
  if (data_) cudaFree(data_);
}

DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    if (data_) cudaFree(data_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

void DeviceBuffer::upload(const void* host, size_t bytes) {
  VRT_CHECK(bytes <= size_, "upload of ", bytes, " bytes into a buffer of ", size_);
  if (bytes > 0) check_cuda(cudaMemcpy(data_, host, bytes, cudaMemcpyHostToDevice), "cudaMemcpy to device");
}

void DeviceBuffer::download(void* host, size_t bytes) const {
  VRT_CHECK(bytes <= size_, "download of ", bytes, " bytes from a buffer of ", size_);
  if (bytes > 0) check_cuda(cudaMemcpy(host, data_, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy to host");
}

void DeviceBuffer::fill_bytes(unsigned char value) {
  if (size_ > 0) {
    check_cuda(cudaMemset(data_, value, size_), "cudaMemset");
    check_cuda(cudaDeviceSynchronize(), "cudaDeviceSynchronize after cudaMemset");
  }
}

DeviceStream::DeviceStream() {
  cudaStream_t stream = nullptr;
  check_cuda(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking),
             "cudaStreamCreateWithFlags");
  stream_ = stream;
}

DeviceStream::~DeviceStream() {
  if (stream_) cudaStreamDestroy(as_stream(stream_));
}

void run_as_graph(const DeviceStream& stream, const std::function<void()>& enqueue) {
  const cudaStream_t s = as_stream(stream.get());
  check_cuda(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal), "cudaStreamBeginCapture");
  cudaGraph_t graph = nullptr;
  try {
    enqueue();
  } catch (...) {
    // End the capture so that the stream is usable again; the launcher's error
    // is the one worth reporting, not the invalidated capture.
    if (cudaStreamEndCapture(s, &graph) == cudaSuccess && graph) cudaGraphDestroy(graph);
    cudaGetLastError();
    throw;
  }
  check_cuda(cudaStreamEndCapture(s, &graph), "cudaStreamEndCapture");
  cudaGraphExec_t exec = nullptr;
  const cudaError_t instantiated = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);
  check_cuda(instantiated, "cudaGraphInstantiate");
  cudaError_t status = cudaGraphLaunch(exec, s);
  if (status == cudaSuccess) status = cudaStreamSynchronize(s);
  cudaGraphExecDestroy(exec);
  check_cuda(status, "running the captured graph");
}

int cuda_device_count(std::string* why) {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    if (why) *why = str_cat(cudaGetErrorName(status), ": ", cudaGetErrorString(status));
    cudaGetLastError();  // clear it so later checks do not report it again
    return 0;
  }
  if (count == 0 && why) *why = "the CUDA runtime reports no devices";
  return count;
}

void device_synchronize() { check_cuda(cudaDeviceSynchronize(), "cudaDeviceSynchronize"); }

}  // namespace visionrt::kernels

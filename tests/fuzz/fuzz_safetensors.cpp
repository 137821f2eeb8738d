// The safetensors reader on arbitrary bytes: header, entries and a view of
// every tensor, each byte of it read. visionrt::Error is the expected
// refusal; any other exception escapes and libFuzzer reports it.
#include <cstddef>
#include <cstdint>

#include "io/safetensors.hpp"
#include "visionrt/status.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto file = visionrt::io::SafetensorsFile::from_memory(data, size, "fuzz.safetensors");
    for (const visionrt::io::TensorEntry& entry : file->entries()) {
      if (file->find(entry.name) != &entry) __builtin_trap();
      const visionrt::Tensor tensor = file->view(entry);
      // Every byte the view claims, read: a range outside the input is caught.
      const auto* bytes = static_cast<const volatile uint8_t*>(tensor.data());
      for (size_t i = 0; i < tensor.nbytes(); ++i) (void)bytes[i];
      if (entry.dtype == visionrt::DType::f32 || entry.dtype == visionrt::DType::f16 ||
          entry.dtype == visionrt::DType::bf16)
        visionrt::to_f32(tensor);
    }
  } catch (const visionrt::Error&) {
  }
  return 0;
}

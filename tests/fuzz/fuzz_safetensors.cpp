// The safetensors reader on arbitrary bytes: header, entries and a view of
// every tensor, each byte of it read. visionrt::Error is the expected
// refusal; any other exception escapes and libFuzzer reports it.
#include <cmath>
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
          entry.dtype == visionrt::DType::bf16) {
        // The load-time finiteness scan, against the converted values.
        const visionrt::Tensor f = visionrt::to_f32(tensor);
        int64_t first = -1;
        for (int64_t i = 0; i < f.numel() && first < 0; ++i)
          if (!std::isfinite(f.f32()[i])) first = i;
        if (visionrt::io::first_non_finite(tensor) != first) __builtin_trap();
      }
    }
  } catch (const visionrt::Error&) {
  }
  return 0;
}

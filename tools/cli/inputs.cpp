#include "inputs.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <system_error>

namespace fs = std::filesystem;

namespace visionrt_cli {

bool has_image_extension(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  static const char* const kExtensions[] = {".jpg", ".jpeg", ".png", ".bmp",
                                            ".webp", ".tif", ".tiff"};
  return std::any_of(std::begin(kExtensions), std::end(kExtensions),
                     [&](const char* e) { return ext == e; });
}

ImageInputs expand_image_inputs(const std::vector<std::string>& args) {
  ImageInputs inputs;
  for (const std::string& arg : args) {
    std::error_code ec;
    if (!fs::is_directory(arg, ec)) {
      inputs.paths.push_back(arg);
      continue;
    }
    std::vector<std::string> found;
    // A folder that cannot be listed counts as holding no images; the
    // caller reports it as such rather than stopping the whole run.
    for (fs::directory_iterator it(arg, ec), end; !ec && it != end; it.increment(ec)) {
      std::error_code type_ec;
      if (it->is_regular_file(type_ec) && has_image_extension(it->path().filename().string()))
        found.push_back((fs::path(arg) / it->path().filename()).string());
    }
    std::sort(found.begin(), found.end());
    if (found.empty()) inputs.empty_dirs.push_back(arg);
    inputs.paths.insert(inputs.paths.end(), found.begin(), found.end());
  }
  return inputs;
}

}  // namespace visionrt_cli

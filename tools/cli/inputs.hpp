// Turning the command line's files and folders into a list of image paths.
#pragma once
#include <string>
#include <vector>

namespace visionrt_cli {

struct ImageInputs {
  std::vector<std::string> paths;       // in command-line order, folders expanded
  std::vector<std::string> empty_dirs;  // folders that held no image file
};

// True for the image file extensions the tool picks out of folders
// (jpg, jpeg, png, bmp, webp, tif, tiff; any letter case).
bool has_image_extension(const std::string& path);

// A folder expands to the image files directly inside it, sorted by name;
// anything else is kept as given, so a missing or unreadable path is
// reported when it is classified, next to the other per-image errors.
ImageInputs expand_image_inputs(const std::vector<std::string>& args);

}  // namespace visionrt_cli

// Annotated copies of images (boxes, labels, scores), drawn with OpenCV.
#include "core/error.hpp"
#include "io/image.hpp"

#if VISIONRT_HAVE_OPENCV
#include <algorithm>
#include <cmath>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#endif

namespace visionrt::io {

#if VISIONRT_HAVE_OPENCV

namespace {

// Well-separated colours (BGR), cycled by class.
const cv::Scalar kPalette[] = {{56, 56, 255}, {151, 157, 255}, {31, 112, 255}, {29, 178, 255},
                               {49, 210, 207}, {10, 249, 72},  {23, 204, 146}, {134, 219, 61},
                               {211, 188, 0},  {255, 152, 0},  {255, 56, 132}, {203, 56, 255}};

}  // namespace

void write_annotated(const Image& image, const std::vector<DrawBox>& boxes, const std::string& path) {
  cv::Mat rgb(image.height, image.width, CV_8UC3, const_cast<uint8_t*>(image.rgb.data()));
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  // Line width and text size follow the image size, so small and large
  // images both stay legible.
  const double scale = std::max(0.4, std::min(image.width, image.height) / 800.0);
  const int thickness = std::max(1, static_cast<int>(std::lround(2 * scale)));
  for (const DrawBox& b : boxes) {
    const cv::Scalar colour = kPalette[static_cast<size_t>(std::abs(b.colour)) % std::size(kPalette)];
    const cv::Point p0(static_cast<int>(std::lround(b.x0)), static_cast<int>(std::lround(b.y0)));
    const cv::Point p1(static_cast<int>(std::lround(b.x1)), static_cast<int>(std::lround(b.y1)));
    cv::rectangle(bgr, p0, p1, colour, thickness);
    int baseline = 0;
    const double font = 0.5 * scale;
    const cv::Size text = cv::getTextSize(b.caption, cv::FONT_HERSHEY_SIMPLEX, font, 1, &baseline);
    // The caption sits above the box, or inside it at the top edge.
    const int top = p0.y - text.height - baseline >= 0 ? p0.y - text.height - baseline : p0.y;
    cv::rectangle(bgr, cv::Point(p0.x, top), cv::Point(p0.x + text.width, top + text.height + baseline),
                  colour, cv::FILLED);
    cv::putText(bgr, b.caption, cv::Point(p0.x, top + text.height), cv::FONT_HERSHEY_SIMPLEX, font,
                cv::Scalar(255, 255, 255), 1, cv::LINE_AA);
  }
  bool ok = false;
  try {
    ok = cv::imwrite(path, bgr);
  } catch (const cv::Exception& e) {
    fail(StatusCode::io_error, path, ": cannot write the annotated image (", e.err, ")");
  }
  if (!ok) fail(StatusCode::io_error, path, ": cannot write the annotated image");
}

#else  // !VISIONRT_HAVE_OPENCV

void write_annotated(const Image&, const std::vector<DrawBox>&, const std::string& path) {
  fail(StatusCode::unsupported, path, ": visionrt was built without the OpenCV image front end");
}

#endif  // VISIONRT_HAVE_OPENCV

}  // namespace visionrt::io

#include "io/jpeg_decode.hpp"

// Part of the image front end: built with it only (the minimal build has no
// libjpeg).
#if VISIONRT_HAVE_OPENCV

#include <csetjmp>
#include <cstdio>  // jpeglib.h uses FILE without including it
#include <new>
#include <vector>

#include <jerror.h>
#include <jpeglib.h>

#include "core/error.hpp"

namespace visionrt::io {
namespace {

// libjpeg reports errors by calling error_exit, which must not return; it
// jumps back to decode_jpeg. (A C++ exception would have to unwind through
// libjpeg's C frames.)
struct ErrorManager {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX] = {};
  bool data_ended = false;
};

// Counts scans and the blocks each covers as libjpeg reaches them, and
// stops the decoder past either limit (see jpeg_decode.hpp). libjpeg calls
// this before every input step, so a limit is noticed within one row of
// blocks of being passed.
struct WorkMonitor {
  jpeg_progress_mgr pub;
  int scans = 0;
  int64_t blocks = 0;
  bool over_scans = false, over_blocks = false;
};

void on_progress(j_common_ptr common) {
  auto* cinfo = reinterpret_cast<j_decompress_ptr>(common);
  auto* monitor = reinterpret_cast<WorkMonitor*>(common->progress);
  if (cinfo->input_scan_number == monitor->scans) return;
  monitor->scans = cinfo->input_scan_number;
  for (int i = 0; i < cinfo->comps_in_scan; ++i)
    monitor->blocks += static_cast<int64_t>(cinfo->cur_comp_info[i]->width_in_blocks) *
                       cinfo->cur_comp_info[i]->height_in_blocks;
  monitor->over_scans = monitor->scans > kMaxJpegScans;
  monitor->over_blocks = monitor->blocks > kMaxJpegBlocks;
  if (monitor->over_scans || monitor->over_blocks)
    std::longjmp(reinterpret_cast<ErrorManager*>(common->err)->jump, 1);
}

void on_error(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// Warnings (level -1) and trace messages are counted, never printed, as PIL
// does. Running out of data at the end of the file is the warning that
// matters: libjpeg then pads the image with grey, where PIL refuses it as
// truncated. (A scan cut short by a marker is padded by both alike.)
void on_message(j_common_ptr cinfo, int level) {
  if (level >= 0) return;
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  if (cinfo->err->msg_code == JWRN_JPEG_EOF) err->data_ended = true;
  ++cinfo->err->num_warnings;
}

void no_output(j_common_ptr) {}

// PIL's (a * b + 127.5) / 255, rounded, in integers (MULDIV255).
inline int mul_div_255(int a, int b) {
  const int t = a * b + 128;
  return ((t >> 8) + t) >> 8;
}

// One row of libjpeg's output (1, 3 or 4 samples a pixel) into RGB.
void row_to_rgb(const JSAMPLE* in, int width, int components, uint8_t* out) {
  for (int x = 0; x < width; ++x, out += 3) {
    if (components == 1) {
      out[0] = out[1] = out[2] = in[x];
    } else if (components == 3) {
      out[0] = in[3 * x];
      out[1] = in[3 * x + 1];
      out[2] = in[3 * x + 2];
    } else {
      // Adobe's CMYK is stored inverted; PIL reads it as "CMYK;I" (so the
      // ink is 255 - sample) and converts to RGB as ink-free * (255 - K).
      const JSAMPLE* p = in + 4 * x;
      const int not_black = p[3];
      for (int c = 0; c < 3; ++c)
        out[c] = static_cast<uint8_t>(not_black - mul_div_255(255 - p[c], not_black));
    }
  }
}

}  // namespace

Image decode_jpeg(const uint8_t* data, size_t size, const std::string& name, int64_t header_width,
                      int64_t header_height) {
  // Everything with a destructor lives before setjmp: the jump back from
  // libjpeg then skips no destructor.
  Image out;
  std::vector<JSAMPLE> row;
  jpeg_decompress_struct cinfo;
  ErrorManager err;
  WorkMonitor monitor;
  monitor.pub.progress_monitor = on_progress;
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = on_error;
  err.pub.emit_message = on_message;
  err.pub.output_message = no_output;
  if (setjmp(err.jump)) {
    const bool out_of_memory = err.pub.msg_code == JERR_OUT_OF_MEMORY;
    jpeg_destroy_decompress(&cinfo);
    if (monitor.over_scans)
      fail(StatusCode::invalid_argument, name, ": progressive JPEG with more than ", kMaxJpegScans,
           " scans (the limit)");
    if (monitor.over_blocks)
      fail(StatusCode::invalid_argument, name, ": JPEG whose scans decode more than ", kMaxJpegBlocks,
           " 8x8 blocks (the decode-work limit)");
    if (out_of_memory) fail(StatusCode::out_of_memory, name, ": out of memory decoding JPEG (", err.message, ")");
    fail(StatusCode::corrupt_file, name, ": cannot decode image (", err.message, ")");
  }
  jpeg_create_decompress(&cinfo);
  cinfo.progress = &monitor.pub;
  try {
    jpeg_mem_src(&cinfo, const_cast<unsigned char*>(data), static_cast<unsigned long>(size));
    jpeg_read_header(&cinfo, TRUE);
    // The size checked against the pixel limit must be the one libjpeg
    // allocates for.
    if (cinfo.image_width != header_width || cinfo.image_height != header_height)
      fail(StatusCode::corrupt_file, name, ": JPEG frame of ", cinfo.image_width, "x", cinfo.image_height,
           " pixels where its header was read as ", header_width, "x", header_height);
    // PIL chooses by the number of components: L, RGB or CMYK; libjpeg
    // converts YCbCr to RGB and YCCK to CMYK.
    const int components = cinfo.num_components;
    if (components != 1 && components != 3 && components != 4)
      fail(StatusCode::unsupported, name, ": JPEG with ", components, " components is not supported");
    cinfo.out_color_space = components == 1 ? JCS_GRAYSCALE : components == 3 ? JCS_RGB : JCS_CMYK;
    jpeg_start_decompress(&cinfo);
    const int width = static_cast<int>(cinfo.output_width);
    const int height = static_cast<int>(cinfo.output_height);
    row.resize(static_cast<size_t>(width) * cinfo.output_components);
    out.width = width;
    out.height = height;
    out.rgb.resize(static_cast<size_t>(width) * height * 3);
    while (cinfo.output_scanline < cinfo.output_height) {
      JSAMPROW rows[1] = {row.data()};
      const int y = static_cast<int>(cinfo.output_scanline);
      if (jpeg_read_scanlines(&cinfo, rows, 1) != 1) break;
      row_to_rgb(row.data(), width, cinfo.output_components, out.rgb.data() + static_cast<size_t>(y) * width * 3);
    }
    // The rest of the stream (after the last scanline) is not needed.
    jpeg_abort_decompress(&cinfo);
  } catch (const std::bad_alloc&) {
    jpeg_destroy_decompress(&cinfo);
    fail(StatusCode::out_of_memory, name, ": out of memory decoding JPEG");
  } catch (...) {
    jpeg_destroy_decompress(&cinfo);
    throw;
  }
  const bool truncated = err.data_ended;
  jpeg_destroy_decompress(&cinfo);
  if (truncated) fail(StatusCode::corrupt_file, name, ": cannot decode image (truncated JPEG data)");
  return out;
}

}  // namespace visionrt::io

#endif  // VISIONRT_HAVE_OPENCV

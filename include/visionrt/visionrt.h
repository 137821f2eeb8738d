/* visionrt C API: opaque handles and status codes over the C++ API.
 * Every function returns a vrt_status; on failure vrt_last_error() gives the
 * message of the calling thread's last error. Nothing here prints or exits. */
#ifndef VISIONRT_VISIONRT_H
#define VISIONRT_VISIONRT_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define VRT_C_API __attribute__((visibility("default")))
#else
#define VRT_C_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef enum vrt_status {
  VRT_OK = 0,
  VRT_INVALID_ARGUMENT = 1,
  VRT_NOT_FOUND = 2,
  VRT_IO_ERROR = 3,
  VRT_CORRUPT_FILE = 4,
  VRT_UNSUPPORTED = 5,
  VRT_SHAPE_MISMATCH = 6,
  VRT_OUT_OF_MEMORY = 7,
  VRT_DEVICE_ERROR = 8,
  VRT_INTERNAL = 9
} vrt_status;

typedef enum vrt_device { VRT_DEVICE_CPU = 0, VRT_DEVICE_CUDA = 1, VRT_DEVICE_AUTO = 2 } vrt_device;

typedef struct vrt_options {
  vrt_device device;
  int num_threads;              /* 0 = all cores */
  int interpolate_pos_encoding; /* non-zero: accept other input sizes */
} vrt_options;

typedef struct vrt_label {
  int id;
  float probability;
  const char* name; /* owned by the classifier; valid while it lives */
} vrt_label;

typedef struct vrt_classifier vrt_classifier;

VRT_C_API const char* vrt_version(void);
/* Message of this thread's last failed call ("" if none). */
VRT_C_API const char* vrt_last_error(void);
/* Fills *options with the defaults (automatic device, all cores). */
VRT_C_API void vrt_options_default(vrt_options* options);

/* options may be NULL for the defaults. */
VRT_C_API vrt_status vrt_classifier_load(const char* model_dir, const vrt_options* options,
                               vrt_classifier** out);
VRT_C_API void vrt_classifier_free(vrt_classifier* classifier);
VRT_C_API int vrt_classifier_num_labels(const vrt_classifier* classifier);

/* Logits for n preprocessed NCHW images; out holds n * num_labels floats. */
VRT_C_API vrt_status vrt_classifier_logits(const vrt_classifier* classifier, const float* pixel_values,
                                 int n, int height, int width, float* out);

/* Top-k labels of one image file; out holds topk entries, *count is set to
 * how many were filled. */
VRT_C_API vrt_status vrt_classify_file(const vrt_classifier* classifier, const char* path, int topk,
                             vrt_label* out, int* count);

#ifdef __cplusplus
}
#endif

#endif /* VISIONRT_VISIONRT_H */

/* visionrt C API: opaque handles and status codes over the C++ API.
 * Every call that can fail returns a vrt_status; on failure vrt_last_error()
 * gives the message of the calling thread's last error. Nothing here prints
 * or exits.
 *
 * Threads: vrt_classifier_load and vrt_detector_load may run on several
 * threads at once. A loaded classifier or detector may be shared by any
 * number of threads, every call taking it as const: its model runs are
 * serialised inside it (each thread gets bitwise the results it would get
 * alone), image decoding and preprocessing run in parallel. vrt_last_error
 * and vrt_batch_error are per thread. Freeing a handle must not race with
 * any other call on it. */
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
  VRT_INTERNAL = 9,
  VRT_BUFFER_TOO_SMALL = 10 /* results were cut to the capacity given */
} vrt_status;

typedef enum vrt_device { VRT_DEVICE_CPU = 0, VRT_DEVICE_CUDA = 1, VRT_DEVICE_AUTO = 2 } vrt_device;

/* As visionrt::Precision: products accumulate in fp32. The CPU computes in
 * fp32, or bf16 where it has AVX-512 BF16 or AMX (VRT_UNSUPPORTED elsewhere);
 * FP16 and TF32 are for GPUs. */
typedef enum vrt_precision {
  VRT_PRECISION_FP32 = 0,
  VRT_PRECISION_BF16 = 1,
  VRT_PRECISION_FP16 = 2,
  VRT_PRECISION_TF32 = 3
} vrt_precision;

/* Fill with vrt_options_default before setting fields: struct_size records
 * the size the caller was compiled with, so a newer library gives the
 * fields the caller's header lacks their defaults, and an older one ignores
 * those it does not know. New fields are only ever added at the end. */
typedef struct vrt_options {
  size_t struct_size;           /* sizeof(vrt_options), set by vrt_options_default */
  vrt_device device;            /* default VRT_DEVICE_AUTO: CUDA when usable, else CPU */
  int num_threads;              /* 0 = all cores */
  int interpolate_pos_encoding; /* non-zero: accept other input sizes */
  vrt_precision precision;      /* default VRT_PRECISION_FP32 */
  int cuda_graphs;              /* non-zero (default): replay each shape as one CUDA graph */
} vrt_options;

typedef struct vrt_label {
  int id;
  float probability;
  const char* name; /* owned by the classifier; valid while it lives */
} vrt_label;

/* A box in pixels of the original image, corners (x0, y0) top-left and
 * (x1, y1) bottom-right. */
typedef struct vrt_detection {
  int id;
  float score;
  float x0, y0, x1, y1;
  const char* name; /* owned by the detector; valid while it lives */
} vrt_detection;

typedef struct vrt_classifier vrt_classifier;
typedef struct vrt_embedder vrt_embedder;
typedef struct vrt_detector vrt_detector;

VRT_C_API const char* vrt_version(void);
/* Message of this thread's last failed call ("" if none). */
VRT_C_API const char* vrt_last_error(void);
/* A status's name, e.g. "not found"; never NULL. */
VRT_C_API const char* vrt_status_name(vrt_status status);
/* Non-zero when built with image decoding (the calls taking files or
 * encoded bytes), with the CUDA backend, and when the NVIDIA driver
 * reports a GPU (this loads the driver's library where one is installed). */
VRT_C_API int vrt_has_image_io(void);
VRT_C_API int vrt_has_cuda_backend(void);
VRT_C_API int vrt_cuda_available(void);

/* Fills *options with the defaults. Inline, so that the defaults and
 * struct_size are those of the header the caller was compiled with. */
static inline void vrt_options_default(vrt_options* options) {
  if (!options) return;
  options->struct_size = sizeof(vrt_options);
  options->device = VRT_DEVICE_AUTO;
  options->num_threads = 0;
  options->interpolate_pos_encoding = 0;
  options->precision = VRT_PRECISION_FP32;
  options->cuda_graphs = 1;
}

/* ---- Classification (ViTForImageClassification) ---- */

/* options may be NULL for the defaults. */
VRT_C_API vrt_status vrt_classifier_load(const char* model_dir, const vrt_options* options,
                                         vrt_classifier** out);
VRT_C_API void vrt_classifier_free(vrt_classifier* classifier);
VRT_C_API int vrt_classifier_num_labels(const vrt_classifier* classifier);

/* The size images are prepared to: the checkpoint's image_size, or with
 * interpolate_pos_encoding the preprocessor's own fixed size. */
VRT_C_API vrt_status vrt_classifier_input_size(const vrt_classifier* classifier, int* height, int* width);
/* Decodes and preprocesses one image file as vrt_classify_file does; out
 * holds 3 * height * width floats (CHW) of vrt_classifier_input_size. */
VRT_C_API vrt_status vrt_classifier_preprocess_file(const vrt_classifier* classifier, const char* path,
                                                    float* out);

/* Logits for n preprocessed NCHW images; out holds n * num_labels floats. */
VRT_C_API vrt_status vrt_classifier_logits(const vrt_classifier* classifier, const float* pixel_values,
                                           int n, int height, int width, float* out);

/* Top-k labels of one image file or of encoded image bytes (JPEG, PNG, BMP,
 * WebP, TIFF); out holds topk entries, *count is set to how many were
 * filled (topk, or fewer when the model has fewer labels). */
VRT_C_API vrt_status vrt_classify_file(const vrt_classifier* classifier, const char* path, int topk,
                                       vrt_label* out, int* count);
VRT_C_API vrt_status vrt_classify_encoded(const vrt_classifier* classifier, const uint8_t* data,
                                          size_t size, int topk, vrt_label* out, int* count);

/* Top-k labels of n image files, those that decode classified together in
 * one forward pass (memory grows with n: give a large set in parts).
 * Image i's labels are out[i * topk ...], counts[i] of them, and
 * statuses[i] its status: an image that cannot be read or decoded gets its
 * own status, counts[i] = 0, and vrt_batch_error(i) its message, and the
 * others are still classified. Returns VRT_OK when the call itself worked,
 * whatever the images' statuses; otherwise (bad arguments, or the forward
 * pass failing, whose status the images that reached it share) no image
 * has labels. */
VRT_C_API vrt_status vrt_classify_files(const vrt_classifier* classifier, const char* const* paths, int n,
                                        int topk, vrt_label* out, int* counts, vrt_status* statuses);
/* Message of image `index` of this thread's last vrt_classify_files call:
 * "" when it succeeded or index is out of range. Valid until this thread's
 * next vrt_classify_files call. */
VRT_C_API const char* vrt_batch_error(int index);

/* ---- Features (a ViT-family encoder: DINOv2, DeiT, ViT, timm) ---- */

typedef enum vrt_pooling {
  VRT_POOLING_CLS = 0,    /* the class token after the last norm (DINOv2's pooler_output) */
  VRT_POOLING_MEAN = 1,   /* the mean of the patch tokens */
  VRT_POOLING_TOKENS = 2  /* every token: vrt_embedder_num_tokens x hidden size */
} vrt_pooling;

/* Any folder vrt_classifier_load takes, or a base model without a head
 * (ViTModel, DeiTModel, Dinov2Model, Dinov2WithRegistersModel). options may
 * be NULL for the defaults. */
VRT_C_API vrt_status vrt_embedder_load(const char* model_dir, const vrt_options* options, vrt_embedder** out);
VRT_C_API void vrt_embedder_free(vrt_embedder* embedder);
VRT_C_API int vrt_embedder_hidden_size(const vrt_embedder* embedder);
/* Tokens per image of the size images are prepared to. */
VRT_C_API int vrt_embedder_num_tokens(const vrt_embedder* embedder);
/* Features of one image file: out holds hidden size floats, or num_tokens x
 * hidden size for VRT_POOLING_TOKENS. pooling is a vrt_pooling value (an int,
 * so that any other value is refused, not undefined). */
VRT_C_API vrt_status vrt_embed_file(const vrt_embedder* embedder, const char* path, int pooling, float* out);

/* ---- Detection (DetrForObjectDetection) ---- */

/* options may be NULL for the defaults. */
VRT_C_API vrt_status vrt_detector_load(const char* model_dir, const vrt_options* options,
                                       vrt_detector** out);
VRT_C_API void vrt_detector_free(vrt_detector* detector);
VRT_C_API int vrt_detector_num_labels(const vrt_detector* detector);
/* The name of class id, owned by the detector; NULL when id is out of range. */
VRT_C_API const char* vrt_detector_label_name(const vrt_detector* detector, int id);
/* Object queries per image: no image has more detections than this. */
VRT_C_API int vrt_detector_num_queries(const vrt_detector* detector);

/* Detections scoring above threshold in an image file or encoded bytes,
 * as transformers' post_process_object_detection (no NMS), best first.
 * *count is set to how many were found and out filled with up to capacity
 * of them; when more were found than fit, out holds the capacity best and
 * the call returns VRT_BUFFER_TOO_SMALL. A capacity of
 * vrt_detector_num_queries always suffices. */
VRT_C_API vrt_status vrt_detect_file(const vrt_detector* detector, const char* path, float threshold,
                                     vrt_detection* out, int capacity, int* count);
VRT_C_API vrt_status vrt_detect_encoded(const vrt_detector* detector, const uint8_t* data, size_t size,
                                        float threshold, vrt_detection* out, int capacity, int* count);

/* Raw outputs for a batch prepared as DetrImageProcessor prepares it:
 * pixel_values n x 3 x height x width floats, pixel_mask n x height x width
 * (1 valid, 0 padding; NULL for no padding). logits receives
 * n x num_queries x (num_labels + 1) floats ("no object" last), boxes
 * n x num_queries x 4 (cx, cy, w, h in [0, 1]). */
VRT_C_API vrt_status vrt_detector_forward(const vrt_detector* detector, const float* pixel_values,
                                          const float* pixel_mask, int n, int height, int width,
                                          float* logits, float* boxes);

#ifdef __cplusplus
}
#endif

#endif /* VISIONRT_VISIONRT_H */

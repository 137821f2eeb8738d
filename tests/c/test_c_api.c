/* The C API as a C program uses it: C99, the shared library, the demo models.
 *   test_c_api SOURCE_DIR SCRATCH_DIR [VISIONRT_CLI]
 * With the command-line tool given, its output is compared with the same
 * results formatted here. Exits non-zero on the first failed check. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <visionrt/visionrt.h>

#define CHECK(cond)                                                                          \
  do {                                                                                       \
    if (!(cond)) {                                                                           \
      fprintf(stderr, "%s:%d: check failed: %s (last error: %s)\n", __FILE__, __LINE__, #cond, \
              vrt_last_error());                                                             \
      exit(1);                                                                               \
    }                                                                                        \
  } while (0)
#define CHECK_STATUS(call, want)                                                                 \
  do {                                                                                           \
    vrt_status got_ = (call);                                                                    \
    if (got_ != (want)) {                                                                        \
      fprintf(stderr, "%s:%d: %s gave %s, not %s: %s\n", __FILE__, __LINE__, #call,              \
              vrt_status_name(got_), vrt_status_name(want), vrt_last_error());                   \
      exit(1);                                                                                   \
    }                                                                                            \
  } while (0)
#define CHECK_OK(call) CHECK_STATUS(call, VRT_OK)

enum { kTopk = 3, kMaxDetections = 64, kDigits = 4, kShapes = 3 };

static char g_source[1024], g_scratch[1024];
static char g_vit[1100], g_detr[1100];
static char g_digit[kDigits][1100], g_shape[kShapes][1100];

static void join(char* out, size_t size, const char* dir, const char* name) {
  CHECK(snprintf(out, size, "%s/%s", dir, name) < (int)size);
}

static unsigned char* read_file(const char* path, size_t* size) {
  FILE* f = fopen(path, "rb");
  unsigned char* data;
  long n;
  CHECK(f != NULL);
  CHECK(fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0);
  data = malloc((size_t)n);
  CHECK(data != NULL && fread(data, 1, (size_t)n, f) == (size_t)n);
  fclose(f);
  *size = (size_t)n;
  return data;
}

static void write_file(const char* path, const void* data, size_t size) {
  FILE* f = fopen(path, "wb");
  CHECK(f != NULL && fwrite(data, 1, size, f) == size && fclose(f) == 0);
}

static vrt_options cpu_options(void) {
  vrt_options o;
  vrt_options_default(&o);
  o.device = VRT_DEVICE_CPU;
  return o;
}

static int same_detections(const vrt_detection* a, int na, const vrt_detection* b, int nb) {
  int i;
  if (na != nb) return 0;
  for (i = 0; i < na; ++i)
    if (a[i].id != b[i].id || a[i].score != b[i].score || a[i].x0 != b[i].x0 || a[i].y0 != b[i].y0 ||
        a[i].x1 != b[i].x1 || a[i].y1 != b[i].y1 || strcmp(a[i].name, b[i].name) != 0)
      return 0;
  return 1;
}

static void test_library(void) {
  vrt_options o;
  CHECK(strlen(vrt_version()) > 0);
  CHECK(strcmp(vrt_status_name(VRT_NOT_FOUND), "not found") == 0);
  CHECK(strcmp(vrt_status_name(VRT_BUFFER_TOO_SMALL), "buffer too small") == 0);
  CHECK(vrt_has_image_io());
  vrt_options_default(&o);
  CHECK(o.struct_size == sizeof o && o.device == VRT_DEVICE_AUTO && o.precision == VRT_PRECISION_FP32 &&
        o.cuda_graphs == 1 && o.num_threads == 0 && o.interpolate_pos_encoding == 0);
}

/* Top-k of the digits one by one, by encoded bytes, as a batch with a
 * missing and a corrupt file in the middle, and through the logits. */
static void test_classifier(vrt_classifier* c) {
  vrt_label single[kDigits][kTopk], batch[6 * kTopk], encoded[kTopk];
  int single_count[kDigits], counts[6], count, i, k, h, w;
  vrt_status statuses[6];
  char missing[1100], corrupt[1100];
  const char* paths[6];
  const int digit_of[6] = {0, 1, -1, -1, 2, 3};
  unsigned char* bytes;
  size_t size;
  float *pixels, logits[10];

  CHECK(vrt_classifier_num_labels(c) == 10);
  for (i = 0; i < kDigits; ++i) {
    CHECK_OK(vrt_classify_file(c, g_digit[i], kTopk, single[i], &single_count[i]));
    CHECK(single_count[i] == kTopk);
    CHECK(single[i][0].probability >= single[i][1].probability);
  }
  /* The demo images are named by the digit they show. */
  CHECK(strcmp(single[0][0].name, "0") == 0 && strcmp(single[3][0].name, "3") == 0);

  bytes = read_file(g_digit[3], &size);
  CHECK_OK(vrt_classify_encoded(c, bytes, size, kTopk, encoded, &count));
  CHECK(count == kTopk);
  for (k = 0; k < kTopk; ++k)
    CHECK(encoded[k].id == single[3][k].id && encoded[k].probability == single[3][k].probability);
  CHECK_STATUS(vrt_classify_encoded(c, bytes, 12, kTopk, encoded, &count), VRT_CORRUPT_FILE);
  CHECK(count == 0 && strstr(vrt_last_error(), "<memory>") != NULL);
  free(bytes);

  join(missing, sizeof missing, g_scratch, "missing.png");
  join(corrupt, sizeof corrupt, g_scratch, "corrupt.png");
  /* A PNG cut short: its header names the format, its data is missing. */
  bytes = read_file(g_digit[1], &size);
  write_file(corrupt, bytes, size / 2);
  free(bytes);
  paths[0] = g_digit[0];
  paths[1] = g_digit[1];
  paths[2] = missing;
  paths[3] = corrupt;
  paths[4] = g_digit[2];
  paths[5] = g_digit[3];
  CHECK_OK(vrt_classify_files(c, paths, 6, kTopk, batch, counts, statuses));
  CHECK(statuses[2] == VRT_NOT_FOUND && counts[2] == 0 && strstr(vrt_batch_error(2), "missing.png"));
  CHECK(statuses[3] == VRT_CORRUPT_FILE && counts[3] == 0 && strstr(vrt_batch_error(3), "corrupt.png"));
  CHECK(strcmp(vrt_batch_error(0), "") == 0 && strcmp(vrt_batch_error(6), "") == 0);
  for (i = 0; i < 6; ++i) {
    if (digit_of[i] < 0) continue;
    CHECK(statuses[i] == VRT_OK && counts[i] == kTopk);
    /* A batch changes only the summation order of the matrix products. */
    for (k = 0; k < kTopk; ++k) {
      CHECK(batch[i * kTopk + k].id == single[digit_of[i]][k].id);
      CHECK(fabsf(batch[i * kTopk + k].probability - single[digit_of[i]][k].probability) < 1e-4f);
    }
  }

  CHECK_OK(vrt_classifier_input_size(c, &h, &w));
  CHECK(h == 32 && w == 32);
  pixels = malloc(sizeof(float) * 3 * (size_t)h * (size_t)w);
  CHECK(pixels != NULL);
  CHECK_OK(vrt_classifier_preprocess_file(c, g_digit[3], pixels));
  CHECK_OK(vrt_classifier_logits(c, pixels, 1, h, w, logits));
  for (k = 0; k < 10; ++k) CHECK(logits[k] <= logits[single[3][0].id]);
  CHECK_STATUS(vrt_classifier_logits(c, pixels, 1, h / 2, w, logits), VRT_SHAPE_MISMATCH);
  free(pixels);
}

/* A detector's results for a file, its bytes, a short buffer, and raw outputs. */
static void test_detector(vrt_detector* d) {
  vrt_detection file[kMaxDetections], encoded[kMaxDetections], best;
  int n_file, n_encoded, n, i, q;
  unsigned char* bytes;
  size_t size;
  const int H = 64, W = 80, Q = vrt_detector_num_queries(d), C = vrt_detector_num_labels(d) + 1;
  float *pixels, *mask, *logits, *boxes, *logits_nomask, *boxes_nomask;

  CHECK(C == 4 && Q == 12);
  CHECK(strcmp(vrt_detector_label_name(d, 0), "circle") == 0 && vrt_detector_label_name(d, 3) == NULL &&
        vrt_detector_label_name(d, -1) == NULL);

  CHECK_OK(vrt_detect_file(d, g_shape[0], 0.7f, file, kMaxDetections, &n_file));
  CHECK(n_file > 1 && n_file <= Q);
  for (i = 1; i < n_file; ++i) CHECK(file[i - 1].score >= file[i].score);
  for (i = 0; i < n_file; ++i) CHECK(file[i].score > 0.7f && file[i].x0 < file[i].x1 && file[i].y0 < file[i].y1);
  bytes = read_file(g_shape[0], &size);
  CHECK_OK(vrt_detect_encoded(d, bytes, size, 0.7f, encoded, kMaxDetections, &n_encoded));
  CHECK(same_detections(file, n_file, encoded, n_encoded));
  free(bytes);

  /* Too small a buffer: the best that fit, the total, and a status saying so. */
  CHECK_STATUS(vrt_detect_file(d, g_shape[0], 0.7f, &best, 1, &n), VRT_BUFFER_TOO_SMALL);
  CHECK(n == n_file && same_detections(&best, 1, file, 1));
  CHECK_STATUS(vrt_detect_file(d, g_shape[0], 0.7f, NULL, 0, &n), VRT_BUFFER_TOO_SMALL);
  CHECK(n == n_file);

  /* Raw outputs of a padded batch of two: the second image's right part is
   * padding. No mask is the same as a mask of ones. */
  pixels = malloc(sizeof(float) * 2 * 3 * H * W);
  mask = malloc(sizeof(float) * 2 * H * W);
  logits = malloc(sizeof(float) * 2 * Q * C);
  boxes = malloc(sizeof(float) * 2 * Q * 4);
  logits_nomask = malloc(sizeof(float) * 2 * Q * C);
  boxes_nomask = malloc(sizeof(float) * 2 * Q * 4);
  CHECK(pixels && mask && logits && boxes && logits_nomask && boxes_nomask);
  for (i = 0; i < 2 * 3 * H * W; ++i) pixels[i] = (float)((i * 7919) % 255) / 127.f - 1.f;
  for (i = 0; i < 2 * H * W; ++i) mask[i] = 1.f;
  CHECK_OK(vrt_detector_forward(d, pixels, mask, 2, H, W, logits, boxes));
  CHECK_OK(vrt_detector_forward(d, pixels, NULL, 2, H, W, logits_nomask, boxes_nomask));
  CHECK(memcmp(logits, logits_nomask, sizeof(float) * 2 * Q * C) == 0);
  CHECK(memcmp(boxes, boxes_nomask, sizeof(float) * 2 * Q * 4) == 0);
  for (i = 0; i < H * W; ++i)
    if (i % W >= W / 2) mask[H * W + i] = 0.f;
  CHECK_OK(vrt_detector_forward(d, pixels, mask, 2, H, W, logits, boxes));
  for (q = 0; q < 2 * Q * 4; ++q) CHECK(boxes[q] >= 0.f && boxes[q] <= 1.f);
  CHECK(memcmp(boxes + Q * 4, boxes_nomask + Q * 4, sizeof(float) * Q * 4) != 0);
  /* The first image is the same in both batches and does not see the other. */
  for (q = 0; q < Q * C; ++q) CHECK(fabsf(logits[q] - logits_nomask[q]) < 1e-4f);
  CHECK_STATUS(vrt_detector_forward(d, pixels, mask, 0, H, W, logits, boxes), VRT_INVALID_ARGUMENT);
  free(pixels);
  free(mask);
  free(logits);
  free(boxes);
  free(logits_nomask);
  free(boxes_nomask);
}

static void test_options(void) {
  vrt_classifier* c = NULL;
  vrt_options o = cpu_options();
  vrt_status s;
  vrt_label top;
  int count;

  /* bf16 needs AVX-512 BF16 or AMX on the CPU; elsewhere it is refused. */
  o.precision = VRT_PRECISION_BF16;
  s = vrt_classifier_load(g_vit, &o, &c);
  CHECK(s == VRT_OK || s == VRT_UNSUPPORTED);
  if (s == VRT_OK) {
    s = vrt_classify_file(c, g_digit[3], 1, &top, &count);
    CHECK(s == VRT_OK || s == VRT_UNSUPPORTED);
    if (s == VRT_OK) CHECK(count == 1 && strcmp(top.name, "3") == 0);
    vrt_classifier_free(c);
  }
  printf("bf16 on this CPU: %s\n", s == VRT_OK ? "runs" : vrt_last_error());

  o.precision = VRT_PRECISION_FP16;
  CHECK_STATUS(vrt_classifier_load(g_vit, &o, &c), VRT_UNSUPPORTED);
  CHECK(c == NULL && strstr(vrt_last_error(), "fp16") != NULL);

  o = cpu_options();
  o.device = VRT_DEVICE_CUDA;
  s = vrt_classifier_load(g_vit, &o, &c);
  if (vrt_cuda_available()) {
    CHECK(s == VRT_OK);
    vrt_classifier_free(c);
  } else {
    CHECK(s == VRT_DEVICE_ERROR && c == NULL && strlen(vrt_last_error()) > 0);
  }

  o = cpu_options();
  o.precision = (vrt_precision)99;
  CHECK_STATUS(vrt_classifier_load(g_vit, &o, &c), VRT_INVALID_ARGUMENT);
  o = cpu_options();
  o.struct_size = 0; /* never filled */
  CHECK_STATUS(vrt_classifier_load(g_vit, &o, &c), VRT_INVALID_ARGUMENT);
  CHECK(strstr(vrt_last_error(), "vrt_options_default") != NULL);
}

static void test_null_arguments(vrt_classifier* c, vrt_detector* d) {
  vrt_classifier* c2 = NULL;
  vrt_detector* d2 = NULL;
  vrt_label labels[kTopk];
  vrt_detection dets[kMaxDetections];
  vrt_status statuses[1];
  int count, counts[1];
  const char* paths[1] = {NULL};
  float f[4];

  CHECK_STATUS(vrt_classifier_load(NULL, NULL, &c2), VRT_INVALID_ARGUMENT);
  CHECK_STATUS(vrt_classifier_load(g_vit, NULL, NULL), VRT_INVALID_ARGUMENT);
  CHECK_STATUS(vrt_detector_load(NULL, NULL, &d2), VRT_INVALID_ARGUMENT);
  CHECK_STATUS(vrt_classify_file(NULL, g_digit[0], 1, labels, &count), VRT_INVALID_ARGUMENT);
  CHECK_STATUS(vrt_classify_file(c, NULL, 1, labels, &count), VRT_INVALID_ARGUMENT);
  CHECK_STATUS(vrt_classify_encoded(c, NULL, 10, 1, labels, &count), VRT_INVALID_ARGUMENT);
  CHECK_STATUS(vrt_classify_files(c, NULL, 1, 1, labels, counts, statuses), VRT_INVALID_ARGUMENT);
  CHECK_STATUS(vrt_classify_files(c, paths, 1, 0, labels, counts, statuses), VRT_INVALID_ARGUMENT);
  /* A NULL path is that image's failure, not the call's. */
  CHECK_OK(vrt_classify_files(c, paths, 1, 1, labels, counts, statuses));
  CHECK(statuses[0] == VRT_INVALID_ARGUMENT && counts[0] == 0);
  CHECK_STATUS(vrt_classifier_logits(c, NULL, 1, 32, 32, f), VRT_INVALID_ARGUMENT);
  CHECK_STATUS(vrt_classifier_input_size(c, NULL, &count), VRT_INVALID_ARGUMENT);
  CHECK_STATUS(vrt_detect_file(d, g_shape[0], 0.7f, dets, kMaxDetections, NULL), VRT_INVALID_ARGUMENT);
  CHECK_STATUS(vrt_detect_file(d, NULL, 0.7f, dets, kMaxDetections, &count), VRT_INVALID_ARGUMENT);
  CHECK_STATUS(vrt_detect_file(NULL, g_shape[0], 0.7f, dets, kMaxDetections, &count), VRT_INVALID_ARGUMENT);
  CHECK_STATUS(vrt_detect_encoded(d, NULL, 10, 0.7f, dets, kMaxDetections, &count), VRT_INVALID_ARGUMENT);
  CHECK_STATUS(vrt_detector_forward(d, f, NULL, 1, 2, 2, NULL, f), VRT_INVALID_ARGUMENT);
  CHECK(vrt_classifier_num_labels(NULL) == 0 && vrt_detector_num_labels(NULL) == 0);
  CHECK(vrt_detector_num_queries(NULL) == 0 && vrt_detector_label_name(NULL, 0) == NULL);
  vrt_classifier_free(NULL);
  vrt_detector_free(NULL);
}

/* A model folder whose weights are damaged: the error names the file. */
static void test_corrupt_model(void) {
  static const char* files[] = {"config.json", "preprocessor_config.json"};
  static const unsigned char bad_weights[] = {16, 0, 0, 0, 0, 0, 0, 0, '{', '"', 'x', '"', ':', ' ', '[', '1'};
  char dir[1100], from[1200], to[1200];
  vrt_options o = cpu_options();
  vrt_classifier* c = NULL;
  vrt_detector* d = NULL;
  unsigned char* data;
  size_t size, i;

  join(dir, sizeof dir, g_scratch, "corrupt-vit");
  CHECK(mkdir(dir, 0755) == 0 || errno == EEXIST);
  for (i = 0; i < 2; ++i) {
    join(from, sizeof from, g_vit, files[i]);
    join(to, sizeof to, dir, files[i]);
    data = read_file(from, &size);
    write_file(to, data, size);
    free(data);
  }
  join(to, sizeof to, dir, "model.safetensors");
  write_file(to, bad_weights, sizeof bad_weights);
  CHECK_STATUS(vrt_classifier_load(dir, &o, &c), VRT_CORRUPT_FILE);
  CHECK(c == NULL && strstr(vrt_last_error(), "model.safetensors") != NULL);

  join(dir, sizeof dir, g_scratch, "no-such-model");
  CHECK_STATUS(vrt_detector_load(dir, &o, &d), VRT_NOT_FOUND);
  CHECK(d == NULL && strstr(vrt_last_error(), "no-such-model") != NULL);
  /* A classifier folder is not a detector. */
  CHECK_STATUS(vrt_detector_load(g_vit, &o, &d), VRT_UNSUPPORTED);
}

/* Two threads sharing one detector get what one thread gets alone, and
 * each keeps its own last error. */
struct worker {
  vrt_detector* detector;
  vrt_detection expected[kShapes][kMaxDetections];
  int expected_count[kShapes];
};

static void* detect_repeatedly(void* arg) {
  const struct worker* w = arg;
  vrt_detection got[kMaxDetections];
  char missing[1100];
  int round, i, n;
  join(missing, sizeof missing, g_scratch, "missing-in-thread.png");
  for (round = 0; round < 3; ++round)
    for (i = 0; i < kShapes; ++i) {
      CHECK_OK(vrt_detect_file(w->detector, g_shape[i], 0.5f, got, kMaxDetections, &n));
      CHECK(same_detections(got, n, w->expected[i], w->expected_count[i]));
      CHECK(vrt_detect_file(w->detector, missing, 0.5f, got, kMaxDetections, &n) == VRT_NOT_FOUND);
      CHECK(strstr(vrt_last_error(), "missing-in-thread.png") != NULL);
    }
  return NULL;
}

static void test_threads(vrt_detector* d) {
  static struct worker w;
  pthread_t threads[2];
  int i;
  w.detector = d;
  for (i = 0; i < kShapes; ++i)
    CHECK_OK(vrt_detect_file(d, g_shape[i], 0.5f, w.expected[i], kMaxDetections, &w.expected_count[i]));
  CHECK_STATUS(vrt_classifier_load(g_scratch, NULL, NULL), VRT_INVALID_ARGUMENT);
  for (i = 0; i < 2; ++i) CHECK(pthread_create(&threads[i], NULL, detect_repeatedly, &w) == 0);
  for (i = 0; i < 2; ++i) CHECK(pthread_join(threads[i], NULL) == 0);
  /* The threads' errors did not replace this thread's. */
  CHECK(strstr(vrt_last_error(), "vrt_classifier_load") != NULL);
}

/* The command-line tool's text output, formatted here from this API's results
 * for the same images, each run alone (--batch 1) on the CPU. */
static void read_command(const char* command, char* out, size_t size) {
  FILE* p = popen(command, "r");
  size_t n;
  CHECK(p != NULL);
  n = fread(out, 1, size - 1, p);
  out[n] = '\0';
  CHECK(pclose(p) == 0);
}

static void test_cli_agrees(const char* cli, vrt_classifier* c, vrt_detector* d) {
  static char command[8192], got[16384], want[16384];
  size_t len = 0;
  int i, k, n;
  vrt_label labels[kTopk];
  vrt_detection dets[kMaxDetections];

  len = (size_t)snprintf(command, sizeof command, "'%s' classify --model '%s' --device cpu --batch 1 --topk %d",
                         cli, g_vit, kTopk);
  for (i = 0; i < kDigits; ++i) len += (size_t)snprintf(command + len, sizeof command - len, " '%s'", g_digit[i]);
  CHECK(len < sizeof command);
  read_command(command, got, sizeof got);
  for (len = 0, i = 0; i < kDigits; ++i) {
    CHECK_OK(vrt_classify_file(c, g_digit[i], kTopk, labels, &n));
    len += (size_t)snprintf(want + len, sizeof want - len, "%s\n", g_digit[i]);
    for (k = 0; k < n; ++k)
      len += (size_t)snprintf(want + len, sizeof want - len, "  %.4f  %s (id %d)\n", labels[k].probability,
                              labels[k].name, labels[k].id);
  }
  CHECK(len < sizeof want);
  if (strcmp(got, want) != 0) fprintf(stderr, "visionrt classify:\n%s\nthe C API:\n%s\n", got, want);
  CHECK(strcmp(got, want) == 0);

  len = (size_t)snprintf(command, sizeof command, "'%s' detect --model '%s' --device cpu --batch 1 --threshold 0.5",
                         cli, g_detr);
  for (i = 0; i < kShapes; ++i) len += (size_t)snprintf(command + len, sizeof command - len, " '%s'", g_shape[i]);
  CHECK(len < sizeof command);
  read_command(command, got, sizeof got);
  for (len = 0, i = 0; i < kShapes; ++i) {
    CHECK_OK(vrt_detect_file(d, g_shape[i], 0.5f, dets, kMaxDetections, &n));
    len += (size_t)snprintf(want + len, sizeof want - len, "%s: %d detection%s\n", g_shape[i], n, n == 1 ? "" : "s");
    for (k = 0; k < n; ++k)
      len += (size_t)snprintf(want + len, sizeof want - len, "  %.3f  %-20s [%.1f, %.1f, %.1f, %.1f]\n", dets[k].score,
                              dets[k].name, dets[k].x0, dets[k].y0, dets[k].x1, dets[k].y1);
  }
  CHECK(len < sizeof want);
  if (strcmp(got, want) != 0) fprintf(stderr, "visionrt detect:\n%s\nthe C API:\n%s\n", got, want);
  CHECK(strcmp(got, want) == 0);
}

/* DINOv2 with registers (a committed fixture): the class-token features
 * are the first row of the tokens, the mean those of the patch tokens past
 * the class token and the 4 registers. */
static void test_embedder(void) {
  char model[1100];
  vrt_options o = cpu_options();
  vrt_embedder *e = NULL, *refused = NULL;
  int hidden, tokens, t, k;
  float *cls, *mean, *all;
  join(model, sizeof model, g_source, "tests/fixtures/vitfam/dinov2_reg_narrow");
  CHECK_OK(vrt_embedder_load(model, &o, &e));
  hidden = vrt_embedder_hidden_size(e);
  tokens = vrt_embedder_num_tokens(e);
  CHECK(hidden > 0 && tokens == 5 + 16 * 16);
  cls = malloc(sizeof(float) * hidden);
  mean = malloc(sizeof(float) * hidden);
  all = malloc(sizeof(float) * hidden * tokens);
  CHECK(cls && mean && all);
  CHECK_OK(vrt_embed_file(e, g_shape[0], VRT_POOLING_CLS, cls));
  CHECK_OK(vrt_embed_file(e, g_shape[0], VRT_POOLING_MEAN, mean));
  CHECK_OK(vrt_embed_file(e, g_shape[0], VRT_POOLING_TOKENS, all));
  for (k = 0; k < hidden; ++k) {
    double sum = 0;
    CHECK(cls[k] == all[k]);
    for (t = 5; t < tokens; ++t) sum += all[t * hidden + k];
    CHECK(fabs(sum / (tokens - 5) - mean[k]) < 1e-5);
  }
  CHECK_STATUS(vrt_embed_file(e, g_shape[0], 7, cls), VRT_INVALID_ARGUMENT);
  CHECK_STATUS(vrt_embedder_load(g_detr, &o, &refused), VRT_UNSUPPORTED);
  CHECK(refused == NULL);
  free(cls);
  free(mean);
  free(all);
  vrt_embedder_free(e);
}

int main(int argc, char** argv) {
  static const char* digits[kDigits] = {"digit_0.png", "digit_1.png", "digit_2.png", "digit_3.png"};
  static const char* shapes[kShapes] = {"shapes_00000.png", "shapes_00001.png", "shapes_00002.png"};
  char dir[1100];
  vrt_options o = cpu_options();
  vrt_classifier* c = NULL;
  vrt_detector* d = NULL;
  int i;

  if (argc < 3 || argc > 4) {
    fprintf(stderr, "usage: test_c_api SOURCE_DIR SCRATCH_DIR [VISIONRT_CLI]\n");
    return 2;
  }
  CHECK(snprintf(g_source, sizeof g_source, "%s", argv[1]) < (int)sizeof g_source);
  CHECK(snprintf(g_scratch, sizeof g_scratch, "%s", argv[2]) < (int)sizeof g_scratch);
  CHECK(mkdir(g_scratch, 0755) == 0 || errno == EEXIST);
  join(g_vit, sizeof g_vit, g_source, "models/demo/vit-digits");
  join(g_detr, sizeof g_detr, g_source, "models/demo/detr-shapes");
  join(dir, sizeof dir, g_source, "models/demo/images/digits");
  for (i = 0; i < kDigits; ++i) join(g_digit[i], sizeof g_digit[i], dir, digits[i]);
  join(dir, sizeof dir, g_source, "models/demo/images/shapes");
  for (i = 0; i < kShapes; ++i) join(g_shape[i], sizeof g_shape[i], dir, shapes[i]);

  test_library();
  CHECK_OK(vrt_classifier_load(g_vit, &o, &c));
  CHECK_OK(vrt_detector_load(g_detr, &o, &d));
  test_classifier(c);
  test_detector(d);
  test_options();
  test_null_arguments(c, d);
  test_corrupt_model();
  test_threads(d);
  test_embedder();
  if (argc == 4) test_cli_agrees(argv[3], c, d);
  vrt_detector_free(d);
  vrt_classifier_free(c);
  printf("C API: all checks passed\n");
  return 0;
}

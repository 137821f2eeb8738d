/* The same as consumer.cpp through the C API, built with pkg-config's flags,
 * and detection:
 *   cc consumer_c.c $(pkg-config --cflags --libs visionrt)
 *   consumer_c MODEL_DIR IMAGE         ->  "top1 id=N probability=P label=NAME"
 *   consumer_c detect MODEL_DIR IMAGE  ->  "detections N", then per detection
 *                                          "id=I score=S box=X0,Y0,X1,Y1 label=NAME" */
#include <stdio.h>
#include <string.h>

#include <visionrt/visionrt.h>

static int fail(const char* what, vrt_status status) {
  fprintf(stderr, "consumer_c: %s: status %d: %s\n", what, (int)status, vrt_last_error());
  return 1;
}

static int classify(const char* model, const char* image) {
  vrt_options options;
  vrt_classifier* classifier = NULL;
  vrt_label top;
  int count = 0;
  vrt_status status;

  vrt_options_default(&options);
  status = vrt_classifier_load(model, &options, &classifier);
  if (status != VRT_OK) return fail("load", status);
  status = vrt_classify_file(classifier, image, 1, &top, &count);
  if (status != VRT_OK || count != 1) {
    vrt_classifier_free(classifier);
    return fail("classify", status);
  }
  printf("top1 id=%d probability=%.6f label=%s\n", top.id, top.probability, top.name);
  vrt_classifier_free(classifier);
  return 0;
}

static int detect(const char* model, const char* image) {
  enum { kCapacity = 100 };
  vrt_options options;
  vrt_detector* detector = NULL;
  vrt_detection found[kCapacity];
  int count = 0, i;
  vrt_status status;

  vrt_options_default(&options);
  status = vrt_detector_load(model, &options, &detector);
  if (status != VRT_OK) return fail("load", status);
  /* The tool's default threshold. */
  status = vrt_detect_file(detector, image, 0.7f, found, kCapacity, &count);
  if (status != VRT_OK) {
    vrt_detector_free(detector);
    return fail("detect", status);
  }
  printf("detections %d\n", count);
  for (i = 0; i < count; ++i)
    printf("id=%d score=%.6f box=%.2f,%.2f,%.2f,%.2f label=%s\n", found[i].id, found[i].score, found[i].x0,
           found[i].y0, found[i].x1, found[i].y1, found[i].name);
  vrt_detector_free(detector);
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 3) return classify(argv[1], argv[2]);
  if (argc == 4 && strcmp(argv[1], "detect") == 0) return detect(argv[2], argv[3]);
  fprintf(stderr, "usage: consumer_c MODEL_DIR IMAGE | consumer_c detect MODEL_DIR IMAGE\n");
  return 2;
}

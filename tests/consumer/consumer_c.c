/* The same as consumer.cpp through the C API, built with pkg-config's flags:
 *   cc consumer_c.c $(pkg-config --cflags --libs visionrt)
 *   consumer_c MODEL_DIR IMAGE  ->  "top1 id=N probability=P label=NAME" */
#include <stdio.h>

#include <visionrt/visionrt.h>

int main(int argc, char** argv) {
  vrt_options options;
  vrt_classifier* classifier = NULL;
  vrt_label top;
  int count = 0;
  vrt_status status;

  if (argc != 3) {
    fprintf(stderr, "usage: consumer_c MODEL_DIR IMAGE\n");
    return 2;
  }
  vrt_options_default(&options);
  status = vrt_classifier_load(argv[1], &options, &classifier);
  if (status != VRT_OK) {
    fprintf(stderr, "consumer_c: status %d: %s\n", (int)status, vrt_last_error());
    return 1;
  }
  status = vrt_classify_file(classifier, argv[2], 1, &top, &count);
  if (status != VRT_OK || count != 1) {
    fprintf(stderr, "consumer_c: status %d: %s\n", (int)status, vrt_last_error());
    vrt_classifier_free(classifier);
    return 1;
  }
  printf("top1 id=%d probability=%.6f label=%s\n", top.id, top.probability, top.name);
  vrt_classifier_free(classifier);
  return 0;
}

// The C API's feature extraction: vrt_embedder over visionrt::Embedder.
#include <cstring>

#include "api/c_api_common.hpp"

using namespace visionrt::capi;

extern "C" {

vrt_status vrt_embedder_load(const char* model_dir, const vrt_options* options, vrt_embedder** out) {
  if (!model_dir || !out) return invalid("vrt_embedder_load: model_dir and out must not be NULL");
  *out = nullptr;
  return guarded([&] { *out = new vrt_embedder{visionrt::Embedder::load(model_dir, to_options(options))}; });
}

void vrt_embedder_free(vrt_embedder* embedder) { delete embedder; }

int vrt_embedder_hidden_size(const vrt_embedder* embedder) { return embedder ? embedder->embedder.hidden_size() : 0; }

int vrt_embedder_num_tokens(const vrt_embedder* embedder) {
  if (!embedder) return 0;
  const visionrt::ModelInfo& info = embedder->embedder.info();
  return embedder->embedder.num_tokens(info.input_height, info.input_width);
}

vrt_status vrt_embed_file(const vrt_embedder* embedder, const char* path, int pooling, float* out) {
  if (!embedder || !path || !out) return invalid("vrt_embed_file: NULL argument");
  if (pooling != VRT_POOLING_CLS && pooling != VRT_POOLING_MEAN && pooling != VRT_POOLING_TOKENS)
    return invalid("vrt_embed_file: pooling must be VRT_POOLING_CLS, VRT_POOLING_MEAN or VRT_POOLING_TOKENS");
  return guarded([&] {
    const std::vector<float> f =
        embedder->embedder.embed_files({path}, static_cast<visionrt::Pooling>(pooling)).at(0);
    std::memcpy(out, f.data(), f.size() * sizeof(float));
  });
}

}  // extern "C"

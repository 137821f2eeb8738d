// Comparing a real-time DETR's outputs with a reference's. Two-stage
// selection orders the chosen queries by their encoder scores, and
// near-equal scores may come out in either order without changing what any
// query computes (the decoder's self-attention does not see positions). So
// each reference query is matched with the nearest of ours (max abs
// difference over its logits and box), one to one.
#pragma once
#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

namespace visionrt::testing {

// The largest logit and box errors of the matched pairs over `images` images
// of `queries` x `classes` logits and `queries` x 4 boxes; infinity when no
// one-to-one match exists (a query of ours nearest to two of theirs).
inline std::pair<double, double> matched_errors(const float* got_logits, const float* got_boxes,
                                                const float* want_logits, const float* want_boxes, int64_t images,
                                                int64_t queries, int64_t classes) {
  double el = 0, eb = 0;
  for (int64_t n = 0; n < images; ++n) {
    std::vector<bool> taken(size_t(queries), false);
    for (int64_t q = 0; q < queries; ++q) {
      const float *wl = want_logits + (n * queries + q) * classes, *wb = want_boxes + (n * queries + q) * 4;
      double best = INFINITY, best_l = 0, best_b = 0;
      int64_t pick = -1;
      for (int64_t j = 0; j < queries; ++j) {
        const float *gl = got_logits + (n * queries + j) * classes, *gb = got_boxes + (n * queries + j) * 4;
        double dl = 0, db = 0;
        for (int64_t c = 0; c < classes; ++c) dl = std::max(dl, std::abs(double(gl[c]) - wl[c]));
        for (int c = 0; c < 4; ++c) db = std::max(db, std::abs(double(gb[c]) - wb[c]));
        if (std::isfinite(dl + db) && dl + db < best) {
          best = dl + db;
          best_l = dl;
          best_b = db;
          pick = j;
        }
      }
      if (pick < 0 || taken[size_t(pick)]) return {INFINITY, INFINITY};
      taken[size_t(pick)] = true;
      el = std::max(el, best_l);
      eb = std::max(eb, best_b);
    }
  }
  return {el, eb};
}

}  // namespace visionrt::testing

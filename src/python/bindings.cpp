// visionrt._visionrt: the engine's Classifier and Detector for Python; the
// public classes of visionrt/__init__.py wrap these.
//
// Python inputs are copied into C++ objects (or, for pixel_values, checked
// and read in place) while the GIL is held; the engine then runs with the GIL
// released, so Python threads sharing one model do not wait on the
// interpreter (runs of one model are serialised inside the engine).
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "visionrt/visionrt.hpp"

namespace nb = nanobind;
using namespace nb::literals;

namespace {

using visionrt::StatusCode;

// Images decoded and run through the model together: as the command-line
// tool's default --batch, so that both give the same answers, and so that
// a long list is held in memory a batch at a time.
constexpr size_t kBatch = 8;

// The status codes as spelled in status.hpp: the Python Error's `status`.
const char* status_id(StatusCode code) {
  switch (code) {
    case StatusCode::ok: return "ok";
    case StatusCode::invalid_argument: return "invalid_argument";
    case StatusCode::not_found: return "not_found";
    case StatusCode::io_error: return "io_error";
    case StatusCode::corrupt_file: return "corrupt_file";
    case StatusCode::unsupported: return "unsupported";
    case StatusCode::shape_mismatch: return "shape_mismatch";
    case StatusCode::out_of_memory: return "out_of_memory";
    case StatusCode::device_error: return "device_error";
    case StatusCode::internal: return "internal";
  }
  return "internal";
}

[[noreturn]] void invalid(const std::string& message) {
  throw visionrt::Error(StatusCode::invalid_argument, message);
}

std::string type_of(nb::handle h) { return nb::type_name(h.type()).c_str(); }

// A path as the file system spells it, as open() takes it: str through the
// file system encoding (surrogate escapes included), bytes as they are,
// os.PathLike through __fspath__.
std::string fs_path(nb::handle h) {
  nb::object path = nb::steal(PyOS_FSPath(h.ptr()));
  if (path.is_valid() && PyUnicode_Check(path.ptr())) path = nb::steal(PyUnicode_EncodeFSDefault(path.ptr()));
  if (!path.is_valid()) throw nb::python_error();
  std::string out(PyBytes_AS_STRING(path.ptr()), static_cast<size_t>(PyBytes_GET_SIZE(path.ptr())));
  if (out.find('\0') != std::string::npos) invalid("path contains a NUL byte");
  return out;
}

std::string describe(const nb::ndarray<nb::ro>& a) {
  static const char* const kinds[] = {"int", "uint", "float", "opaque", "bfloat", "complex", "bool"};
  const auto code = static_cast<unsigned>(a.dtype().code);
  std::string text = code < 7 ? kinds[code] : "unknown";
  if (a.dtype().code != static_cast<uint8_t>(nb::dlpack::dtype_code::Bool)) text += std::to_string(a.dtype().bits);
  text += " array of shape (";
  for (size_t i = 0; i < a.ndim(); ++i) text += (i ? ", " : "") + std::to_string(a.shape(i));
  return text + (a.ndim() == 1 ? ",)" : ")");
}

nb::ndarray<nb::ro> array_of(nb::handle h, const std::string& name, const std::string& wanted) {
  nb::ndarray<nb::ro> a;
  if (!nb::ndarray_check(h) || !nb::try_cast(h, a, false))
    invalid(name + " must be " + wanted + ", not " + type_of(h));
  if (a.device_type() != nb::device::cpu::value) invalid(name + " must be in CPU memory");
  return a;
}

bool c_contiguous(const nb::ndarray<nb::ro>& a) {
  if (a.size() == 0) return true;  // no data: its strides do not matter
  int64_t expected = 1;
  for (size_t i = a.ndim(); i-- > 0;) {
    if (a.shape(i) != 1 && a.stride(i) != expected) return false;
    expected *= static_cast<int64_t>(a.shape(i));
  }
  return true;
}

// A batch of float32 pixels in NCHW order, read in place: no copy is made,
// so a copy the caller did not ask for is refused rather than made here.
struct Pixels {
  const float* data;
  int n, height, width;
};

Pixels pixels_of(nb::handle h, int channels) {
  const std::string wanted = "a C-contiguous float32 array of shape (n, " + std::to_string(channels) +
                             ", height, width)";
  const nb::ndarray<nb::ro> a = array_of(h, "pixel_values", wanted);
  if (a.dtype() != nb::dtype<float>() || a.ndim() != 4 || a.shape(1) != size_t(channels) || !c_contiguous(a))
    invalid("pixel_values must be " + wanted + " (numpy.ascontiguousarray(x, dtype=numpy.float32)), not a " +
            (c_contiguous(a) ? "" : "non-contiguous ") + describe(a));
  for (size_t i : {0, 2, 3})
    if (a.shape(i) > size_t(INT_MAX)) invalid("pixel_values is too large: " + describe(a));
  return {static_cast<const float*>(a.data()), int(a.shape(0)), int(a.shape(2)), int(a.shape(3))};
}

// A decoded RGB image from a uint8 (height, width, 3) array, any strides.
visionrt::Image image_of(nb::handle h) {
  const std::string wanted = "a uint8 array of shape (height, width, 3), RGB";
  const nb::ndarray<nb::ro> a = array_of(h, "an image array", wanted);
  if (a.dtype() != nb::dtype<uint8_t>() || a.ndim() != 3 || a.shape(2) != 3)
    invalid("an image array must be " + wanted + ", not a " + describe(a));
  if (a.shape(0) == 0 || a.shape(1) == 0 || a.shape(0) * a.shape(1) > size_t(visionrt::kMaxImagePixels))
    invalid("an image array must have between 1 and " + std::to_string(visionrt::kMaxImagePixels) +
            " pixels, not a " + describe(a));
  visionrt::Image image;
  image.height = static_cast<int>(a.shape(0));
  image.width = static_cast<int>(a.shape(1));
  image.rgb.resize(size_t(image.width) * image.height * 3);
  const auto* in = static_cast<const uint8_t*>(a.data());
  if (c_contiguous(a)) {
    std::memcpy(image.rgb.data(), in, image.rgb.size());
    return image;
  }
  const int64_t sy = a.stride(0), sx = a.stride(1), sc = a.stride(2);
  uint8_t* out = image.rgb.data();
  for (int64_t y = 0; y < image.height; ++y)
    for (int64_t x = 0; x < image.width; ++x)
      for (int64_t c = 0; c < 3; ++c) *out++ = in[y * sy + x * sx + c * sc];
  return image;
}

// One image of a call, copied out of its Python object.
struct Source {
  enum class Kind { file, encoded, pixels } kind;
  std::string path;
  std::vector<uint8_t> encoded;
  visionrt::Image image;
};

Source source_of(nb::handle h) {
  Source s;
  PyObject* o = h.ptr();
  if (PyBytes_Check(o) || PyByteArray_Check(o) || PyMemoryView_Check(o)) {
    s.kind = Source::Kind::encoded;
    Py_buffer view;
    if (PyObject_GetBuffer(o, &view, PyBUF_SIMPLE) != 0) {
      PyErr_Clear();
      invalid("encoded image bytes must be one contiguous block (a non-contiguous memoryview was given)");
    }
    const auto* data = static_cast<const uint8_t*>(view.buf);
    try {
      s.encoded.assign(data, data + view.len);
    } catch (...) {
      PyBuffer_Release(&view);
      throw;
    }
    PyBuffer_Release(&view);
  } else if (PyUnicode_Check(o) || PyObject_HasAttrString(o, "__fspath__")) {
    s.kind = Source::Kind::file;
    s.path = fs_path(h);
  } else if (nb::ndarray_check(h)) {
    s.kind = Source::Kind::pixels;
    s.image = image_of(h);
  } else {
    invalid("an image must be a file path, encoded image bytes, a uint8 (height, width, 3) RGB array or a "
            "PIL image, not " + type_of(h));
  }
  return s;
}

visionrt::Image decode(Source& s) {
  switch (s.kind) {
    case Source::Kind::file: return visionrt::load_image(s.path);
    case Source::Kind::encoded: return visionrt::decode_image(s.encoded.data(), s.encoded.size());
    case Source::Kind::pixels: break;
  }
  return std::move(s.image);
}

// Runs f for image `index` of a call; with more than one image, its errors
// say which image they are about.
template <class F>
auto for_image(size_t index, size_t count, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const visionrt::Error& e) {
    if (count == 1) throw;
    throw visionrt::Error(e.code(), "image " + std::to_string(index) + ": " + e.what());
  }
}

// Calls run(decoded, first, count) on `images` a batch at a time: each
// batch's inputs are copied with the GIL held, then decoded and run without it.
template <class Result, class Run>
std::vector<Result> in_batches(const nb::list& images, Run run) {
  const size_t count = nb::len(images);
  std::vector<Result> results;
  for (size_t first = 0; first < count; first += kBatch) {
    std::vector<Source> sources;
    for (size_t i = first; i < std::min(count, first + kBatch); ++i)
      sources.push_back(for_image(i, count, [&] { return source_of(images[i]); }));
    std::vector<Result> batch;
    {
      nb::gil_scoped_release release;
      std::vector<visionrt::Image> decoded;
      for (size_t k = 0; k < sources.size(); ++k)
        decoded.push_back(for_image(first + k, count, [&] { return decode(sources[k]); }));
      batch = run(decoded, first, count);
    }
    for (Result& r : batch) results.push_back(std::move(r));
  }
  return results;
}

nb::ndarray<nb::numpy, float> to_numpy(std::vector<float> values, std::initializer_list<size_t> shape) {
  auto* owned = new std::vector<float>(std::move(values));
  nb::capsule owner(owned, [](void* p) noexcept { delete static_cast<std::vector<float>*>(p); });
  return nb::ndarray<nb::numpy, float>(owned->data(), shape, owner);
}

// The library's one spelling of devices and precisions, in its enums' order.
std::vector<std::string> device_names() {
  std::vector<std::string> names;
  for (visionrt::Device d : {visionrt::Device::automatic, visionrt::Device::cpu, visionrt::Device::cuda})
    names.push_back(visionrt::device_name(d));
  return names;
}
std::vector<std::string> precision_names() {
  std::vector<std::string> names;
  for (visionrt::Precision p :
       {visionrt::Precision::fp32, visionrt::Precision::tf32, visionrt::Precision::fp16, visionrt::Precision::bf16})
    names.push_back(visionrt::precision_name(p));
  return names;
}

std::string quoted_list(const std::vector<std::string>& names) {
  std::string s;
  for (size_t i = 0; i < names.size(); ++i)
    s += (i == 0 ? "'" : i + 1 == names.size() ? " or '" : ", '") + names[i] + "'";
  return s;
}

visionrt::Options options_of(const std::string& device, const std::string& precision, int threads,
                             bool interpolate_pos_encoding) {
  visionrt::Options o;
  if (!visionrt::parse_device(device, &o.device))
    invalid("device must be " + quoted_list(device_names()) + ", not '" + device + "'");
  if (!visionrt::parse_precision(precision, &o.precision))
    invalid("precision must be " + quoted_list(precision_names()) + ", not '" + precision + "'");
  o.num_threads = threads;
  o.interpolate_pos_encoding = interpolate_pos_encoding;
  return o;
}

// Loads a model into the memory nanobind gives __init__, without the GIL.
template <class Model>
void load(Model* self, nb::handle model_dir, const std::string& device, const std::string& precision,
          int threads, bool interpolate_pos_encoding) {
  const std::string dir = fs_path(model_dir);
  const visionrt::Options options = options_of(device, precision, threads, interpolate_pos_encoding);
  nb::gil_scoped_release release;
  new (self) Model(Model::load(dir, options));
}

nb::dict info_of(const visionrt::ModelInfo& i, bool sizes) {
  nb::dict d;
  d["architecture"] = i.architecture;
  if (sizes) {
    d["image_height"] = i.image_height;
    d["image_width"] = i.image_width;
    d["num_channels"] = i.num_channels;
    d["input_height"] = i.input_height;
    d["input_width"] = i.input_width;
  }
  d["num_labels"] = i.num_labels;
  d["num_parameters"] = i.num_parameters;
  return d;
}


// transformers' pipeline("image-classification") form.
nb::list predictions(const std::vector<visionrt::Label>& labels) {
  nb::list out;
  for (const visionrt::Label& l : labels) {
    nb::dict d;
    d["label"] = l.name;
    d["score"] = double(l.probability);
    out.append(d);
  }
  return out;
}

// transformers' pipeline("object-detection") form: in the order its
// post-processing gives them (DETR's: query order, where the engine gives
// them highest score first; the real-time DETRs': highest score first, as
// the engine does), box corners as ints, truncated toward zero as its
// box.int() does.
nb::list detections(std::vector<visionrt::Detection> found, bool in_query_order) {
  if (in_query_order)
    std::stable_sort(found.begin(), found.end(),
                     [](const visionrt::Detection& a, const visionrt::Detection& b) { return a.query < b.query; });
  auto pixel = [](float v) {
    nb::object i = nb::steal(PyLong_FromDouble(v));
    if (!i.is_valid()) throw nb::python_error();
    return i;
  };
  nb::list out;
  for (const visionrt::Detection& f : found) {
    nb::dict box, d;
    box["xmin"] = pixel(f.box.x0);
    box["ymin"] = pixel(f.box.y0);
    box["xmax"] = pixel(f.box.x1);
    box["ymax"] = pixel(f.box.y1);
    d["score"] = double(f.score);
    d["label"] = f.name;
    d["box"] = box;
    out.append(d);
  }
  return out;
}

nb::list classify(const visionrt::Classifier& c, const nb::list& images, int topk) {
  using Labels = std::vector<visionrt::Label>;
  const auto labels = in_batches<Labels>(images, [&](std::vector<visionrt::Image>& decoded, size_t first,
                                                     size_t count) {
    const visionrt::ModelInfo& info = c.info();
    std::vector<float> pixels;
    for (size_t k = 0; k < decoded.size(); ++k) {
      const std::vector<float> one = for_image(first + k, count, [&] { return c.preprocess(decoded[k]); });
      pixels.insert(pixels.end(), one.begin(), one.end());
    }
    return c.classify(pixels.data(), static_cast<int>(decoded.size()), info.input_height, info.input_width, topk);
  });
  nb::list out;
  for (const Labels& l : labels) out.append(predictions(l));
  return out;
}

nb::list detect(const visionrt::Detector& d, const nb::list& images, float threshold) {
  using Found = std::vector<visionrt::Detection>;
  const auto found = in_batches<Found>(images, [&](std::vector<visionrt::Image>& decoded, size_t, size_t) {
    return d.detect(decoded, threshold);
  });
  const bool in_query_order = d.info().architecture == "DetrForObjectDetection";
  nb::list out;
  for (const Found& f : found) out.append(detections(f, in_query_order));
  return out;
}

visionrt::Pooling pooling_of(const std::string& name) {
  if (name == "cls") return visionrt::Pooling::cls;
  if (name == "mean") return visionrt::Pooling::mean;
  if (name == "tokens") return visionrt::Pooling::tokens;
  invalid("pooling must be 'cls', 'mean' or 'tokens', not '" + name + "'");
}

// One array per image: [tokens, hidden] for "tokens", else [hidden].
nb::list embed(const visionrt::Embedder& e, const nb::list& images, const std::string& pooling) {
  const visionrt::Pooling p = pooling_of(pooling);
  const visionrt::ModelInfo& info = e.info();
  const size_t tokens = size_t(e.num_tokens(info.input_height, info.input_width)), hidden = size_t(e.hidden_size());
  const auto features = in_batches<std::vector<float>>(images, [&](std::vector<visionrt::Image>& decoded,
                                                                   size_t first, size_t count) {
    std::vector<float> pixels;
    for (size_t k = 0; k < decoded.size(); ++k) {
      const std::vector<float> one = for_image(first + k, count, [&] { return e.preprocess(decoded[k]); });
      pixels.insert(pixels.end(), one.begin(), one.end());
    }
    const int n = static_cast<int>(decoded.size());
    const std::vector<float> all = e.embed(pixels.data(), n, info.input_height, info.input_width, p);
    const size_t per = all.size() / decoded.size();
    std::vector<std::vector<float>> out;
    for (size_t k = 0; k < decoded.size(); ++k) out.emplace_back(all.begin() + k * per, all.begin() + (k + 1) * per);
    return out;
  });
  nb::list out;
  for (const std::vector<float>& f : features)
    out.append(p == visionrt::Pooling::tokens ? to_numpy(f, {tokens, hidden}) : to_numpy(f, {hidden}));
  return out;
}

nb::ndarray<nb::numpy, float> tokens(const visionrt::Embedder& e, nb::handle pixel_values) {
  const Pixels px = pixels_of(pixel_values, e.info().num_channels);
  std::vector<float> out;
  {
    nb::gil_scoped_release release;
    out = e.tokens(px.data, px.n, px.height, px.width);
  }
  return to_numpy(std::move(out), {size_t(px.n), size_t(e.num_tokens(px.height, px.width)), size_t(e.hidden_size())});
}

nb::ndarray<nb::numpy, float> logits(const visionrt::Classifier& c, nb::handle pixel_values) {
  const Pixels px = pixels_of(pixel_values, c.info().num_channels);
  std::vector<float> out;
  {
    nb::gil_scoped_release release;
    out = c.logits(px.data, px.n, px.height, px.width);
  }
  return to_numpy(std::move(out), {size_t(px.n), size_t(c.info().num_labels)});
}

std::pair<nb::ndarray<nb::numpy, float>, nb::ndarray<nb::numpy, float>> forward(const visionrt::Detector& d,
                                                                                nb::handle pixel_values,
                                                                                nb::handle pixel_mask) {
  const Pixels px = pixels_of(pixel_values, 3);
  const float* mask = nullptr;
  if (!pixel_mask.is_none()) {
    const std::string wanted = "a C-contiguous float32 array of shape (" + std::to_string(px.n) + ", " +
                               std::to_string(px.height) + ", " + std::to_string(px.width) + ")";
    const nb::ndarray<nb::ro> m = array_of(pixel_mask, "pixel_mask", wanted);
    if (m.dtype() != nb::dtype<float>() || m.ndim() != 3 || m.shape(0) != size_t(px.n) ||
        m.shape(1) != size_t(px.height) || m.shape(2) != size_t(px.width) || !c_contiguous(m))
      invalid("pixel_mask must be " + wanted + ", not a " + describe(m));
    mask = static_cast<const float*>(m.data());
  }
  visionrt::DetrOutputs o;
  {
    nb::gil_scoped_release release;
    o = d.forward(px.data, mask, px.n, px.height, px.width);
  }
  const size_t n = size_t(o.batch), q = size_t(o.queries);
  return {to_numpy(std::move(o.logits), {n, q, size_t(o.classes)}), to_numpy(std::move(o.boxes), {n, q, 4})};
}

// visionrt::Error becomes the Python exception that visionrt._errors makes
// for its status (payload: that module's _from_engine).
void translate_error(const std::exception_ptr& p, void* payload) {
  try {
    std::rethrow_exception(p);
  } catch (const visionrt::Error& e) {
    // Messages quote paths, which need not be UTF-8.
    nb::object message = nb::steal(PyUnicode_DecodeUTF8(e.what(), std::strlen(e.what()), "replace"));
    if (!message.is_valid()) return;
    nb::object error = nb::steal(
        PyObject_CallFunction(static_cast<PyObject*>(payload), "sO", status_id(e.code()), message.ptr()));
    if (error.is_valid()) PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(error.ptr())), error.ptr());
  }
}

}  // namespace

NB_MODULE(_visionrt, m) {
  // Kept for the life of the process, as the translator that uses it.
  nb::object from_engine = nb::module_::import_("visionrt._errors").attr("_from_engine");
  nb::register_exception_translator(translate_error, from_engine.release().ptr());

  m.def("version", [] { return std::string(visionrt::version()); });
  m.def("has_image_io", &visionrt::has_image_io);
  m.def("has_cuda_backend", &visionrt::has_cuda_backend);
  m.def("cuda_available", &visionrt::cuda_available);
  m.attr("DEVICES") = device_names();
  m.attr("PRECISIONS") = precision_names();

  nb::class_<visionrt::Classifier>(m, "Classifier")
      .def("__init__", &load<visionrt::Classifier>, "model_dir"_a, "device"_a, "precision"_a, "threads"_a,
           "interpolate_pos_encoding"_a)
      .def("classify", &classify, "images"_a, "topk"_a)
      .def("logits", &logits, "pixel_values"_a)
      .def_prop_ro("labels", &visionrt::Classifier::label_names)
      .def_prop_ro("device", [](const visionrt::Classifier& c) { return visionrt::device_name(c.device()); })
      .def_prop_ro("device_notice", &visionrt::Classifier::device_notice)
      .def_prop_ro("info", [](const visionrt::Classifier& c) { return info_of(c.info(), true); });

  nb::class_<visionrt::Embedder>(m, "Embedder")
      .def("__init__", &load<visionrt::Embedder>, "model_dir"_a, "device"_a, "precision"_a, "threads"_a,
           "interpolate_pos_encoding"_a)
      .def("embed", &embed, "images"_a, "pooling"_a)
      .def("tokens", &tokens, "pixel_values"_a)
      .def_prop_ro("hidden_size", &visionrt::Embedder::hidden_size)
      .def_prop_ro("device", [](const visionrt::Embedder& e) { return visionrt::device_name(e.device()); })
      .def_prop_ro("device_notice", &visionrt::Embedder::device_notice)
      .def_prop_ro("info", [](const visionrt::Embedder& e) { return info_of(e.info(), true); });

  nb::class_<visionrt::Detector>(m, "Detector")
      .def(
          "__init__",
          [](visionrt::Detector* self, nb::handle model_dir, const std::string& device, const std::string& precision,
             int threads) { load(self, model_dir, device, precision, threads, false); },
          "model_dir"_a, "device"_a, "precision"_a, "threads"_a)
      .def("detect", &detect, "images"_a, "threshold"_a)
      .def("forward", &forward, "pixel_values"_a, "pixel_mask"_a.none())
      .def_prop_ro("labels", &visionrt::Detector::label_names)
      .def_prop_ro("device", [](const visionrt::Detector& d) { return visionrt::device_name(d.device()); })
      .def_prop_ro("device_notice", &visionrt::Detector::device_notice)
      .def_prop_ro("info", [](const visionrt::Detector& d) { return info_of(d.info(), false); });
}

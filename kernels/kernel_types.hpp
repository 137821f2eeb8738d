// The kernels speak the engine's one dtype vocabulary (core/dtype.hpp) and
// compute in the float dtypes only (is_float). This header and the launcher
// headers beside it are plain C++: code built without CUDA includes them.
#pragma once
#include "core/dtype.hpp"

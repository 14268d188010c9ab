// The binding functions of the families built on the softmax core, one per
// family (python/STEM_bindings.cpp). kelvin_module.cpp calls each with its own
// private submodule kelvin._kelvin._STEM; the public API is the pure-Python
// module python/kelvin/STEM.py over it.
#pragma once

#include <pybind11/pybind11.h>

namespace kelvin::python {

// One line per family, e.g.: void bind_loss(pybind11::module_& m);
void bind_loss(pybind11::module_& m);
void bind_sampling(pybind11::module_& m);

}  // namespace kelvin::python

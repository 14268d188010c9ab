// kelvin: softmax with temperature. Umbrella header for the C++ API.
#pragma once

#include "kelvin/half.hpp"
#include "kelvin/loss.hpp"
#include "kelvin/runtime.hpp"
#include "kelvin/sampling.hpp"
#include "kelvin/softmax.hpp"
#include "kelvin/types.hpp"

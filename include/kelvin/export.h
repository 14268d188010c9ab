/* kelvin: the export macro of the public API (C and C++).
 *
 * libkelvin is built with hidden visibility: only declarations marked
 * KELVIN_API are exported from the shared library (tests/symbols checks the
 * list). Every public function of every family carries it:
 *
 *   KELVIN_API void softmax(std::span<const float> x, std::span<float> y, ...);
 *   KELVIN_API kelvin_status kelvin_softmax_f32(...);
 */
#ifndef KELVIN_EXPORT_H
#define KELVIN_EXPORT_H

#if defined(_WIN32) || defined(__CYGWIN__)
#if defined(KELVIN_BUILDING)
#define KELVIN_API __declspec(dllexport)
#else
#define KELVIN_API
#endif
#else
#define KELVIN_API __attribute__((visibility("default")))
#endif

#endif /* KELVIN_EXPORT_H */

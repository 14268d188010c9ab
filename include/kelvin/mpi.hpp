// kelvin over MPI: softmax, log-partition and cross-entropy of rows whose
// classes are split by columns across the ranks of a communicator (Megatron's
// vocab-parallel layout, Partial FC's sharded identities).
//
// Rank r holds the columns [class_offset_r, class_offset_r + cols_r) of every
// row; the shards of the ranks tile [0, C) (any order, a rank may hold none).
// Every rank passes the same rows, options and labels. Each call is collective
// over `comm` and costs, per row, ONE element of a single MPI_Allreduce: the
// shard's (max, scaled sum) pair merged by the online normaliser, exact for the
// contract's special cases (T == 0 ties across ranks, T == +inf, -inf masks,
// NaN or +inf on any rank). Results agree with kelvin::log_partition /
// softmax / log_softmax on the concatenated rows within the contract's bounds
// (docs/mpi.md). Arguments are checked collectively first: when any rank's
// arguments are bad or disagree with another rank's, every rank throws the
// same kelvin::error, naming the rank; no rank hangs.
//
//   // rank r holds x_r: rows x cols_r, columns offset_r.. of the global rows
//   std::vector<float> lz(rows);
//   kelvin::sharded_log_partition(MPI_COMM_WORLD, x_r, lz, {.temperature = 0.7});
//   kelvin::sharded_softmax(MPI_COMM_WORLD, x_r, p_r, {.temperature = 0.7});
//   kelvin::loss_value v = kelvin::sharded_cross_entropy(MPI_COMM_WORLD, x_r, labels, offset_r,
//                                                        {.temperature = 0.7}, grad_r);
//
// Link kelvin::mpi (built when CMake finds MPI; option KELVIN_BUILD_MPI).
#pragma once

// Only MPI's C API: OpenMPI's and MPICH's deprecated C++ bindings would need
// libmpi_cxx.
#ifndef OMPI_SKIP_MPICXX
#define OMPI_SKIP_MPICXX 1
#endif
#ifndef MPICH_SKIP_MPICXX
#define MPICH_SKIP_MPICXX 1
#endif
#include <mpi.h>

#include <cstddef>
#include <cstdint>
#include <span>

#include "kelvin/export.h"
#include "kelvin/loss.hpp"
#include "kelvin/sampling.hpp"
#include "kelvin/types.hpp"

namespace kelvin {

// --- softmax family over column shards ----------------------------------------
// opt.temperature or opt.temperatures (one per row), opt.empty_row as in
// kelvin::softmax; opt.threads is ignored (the ranks are the parallelism).
// out.size() == local_logits.rows; every rank receives every row's result.
KELVIN_API void sharded_log_partition(MPI_Comm comm, matrix_view<const float> local_logits,
                                      std::span<float> out, const options& opt = {});
KELVIN_API void sharded_log_partition(MPI_Comm comm, matrix_view<const double> local_logits,
                                      std::span<double> out, const options& opt = {});
// The local columns of the globally normalised rows: y has x's shape.
KELVIN_API void sharded_softmax(MPI_Comm comm, matrix_view<const float> local_logits,
                                matrix_view<float> y, const options& opt = {});
KELVIN_API void sharded_softmax(MPI_Comm comm, matrix_view<const double> local_logits,
                                matrix_view<double> y, const options& opt = {});
KELVIN_API void sharded_log_softmax(MPI_Comm comm, matrix_view<const float> local_logits,
                                    matrix_view<float> y, const options& opt = {});
KELVIN_API void sharded_log_softmax(MPI_Comm comm, matrix_view<const double> local_logits,
                                    matrix_view<double> y, const options& opt = {});

// --- cross-entropy over column shards -----------------------------------------
// kelvin::cross_entropy (kelvin/loss.hpp: PyTorch's F.cross_entropy(logits / T,
// labels, reduction, ignore_index, label_smoothing), its limits and its
// gradients) of the global rows, each rank holding the columns
// [class_offset, class_offset + local_logits.cols). Reads opt.temperature,
// reduce, ignore_index and label_smoothing (threads is ignored). labels are
// global class ids, the same on every rank. Returns the same loss_value on
// every rank: the loss, and dL/dT when a gradient view is given (else NaN;
// the one quantity that needs a second MPI_Allreduce, of one double per
// call). grad (local_logits' shape; a rank holding no class passes
// {nullptr, rows, 0}) receives d(loss)/d(local_logits); losses (reduction
// none only) the per-row losses.
KELVIN_API loss_value sharded_cross_entropy(MPI_Comm comm, matrix_view<const float> local_logits,
                                            std::span<const std::int64_t> labels,
                                            std::size_t class_offset, const loss_options& opt = {},
                                            matrix_view<float> grad = {},
                                            std::span<float> losses = {});
KELVIN_API loss_value sharded_cross_entropy(MPI_Comm comm, matrix_view<const double> local_logits,
                                            std::span<const std::int64_t> labels,
                                            std::size_t class_offset, const loss_options& opt = {},
                                            matrix_view<double> grad = {},
                                            std::span<double> losses = {});

// --- sampling over column shards -----------------------------------------------
// kelvin::sample (kelvin/sampling.hpp) of each global row, the vocabulary being
// the shards in rank order (rank r's column i is token cols_0 + .. + cols_{r-1}
// + i): the same token as kelvin::sample on the concatenated row for the same
// config, seed, row id (args.row_ids, default 0..rows-1) and args.step,
// whatever the number of ranks (docs/mpi.md: the one exception, a rounding
// tie in the plain-temperature walk). Every rank receives every token.
// config.dynamic_range > 0 and args.logprobs / raw_logprobs are not supported;
// args.threads is ignored. Truncations gather candidates: top-k sends
// max(top_k, min_keep) per rank and row, min-p the entries that can pass it;
// top-p or typical without top-k gather every live entry.
KELVIN_API void sharded_sample(MPI_Comm comm, matrix_view<const float> local_logits,
                               std::span<std::int64_t> tokens, const sampling_options& config = {},
                               const sample_args& args = {});

}  // namespace kelvin

#include "src/mpi_checks.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <utility>

#include "kelvin/types.hpp"

namespace kelvin::detail {

fingerprint& fingerprint::add(const void* p, std::size_t n) {
  const auto* b = static_cast<const unsigned char*>(p);
  for (std::size_t i = 0; i < n; ++i) {
    h_ ^= b[i];
    h_ *= 1099511628211ull;
  }
  return *this;
}

void check_mpi(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw error(std::string(what) + " failed: " + std::string(text, static_cast<std::size_t>(len)),
              status::internal_error);
}

std::string format_double(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.17g", v);
  return b;
}

namespace {

// The fixed-size record every rank contributes (plain bytes: every rank runs
// the same binary layout).
struct rank_record {
  char name[32];
  std::uint64_t bad;
  std::uint64_t rows;
  std::uint64_t cols;
  std::uint64_t offset;
  std::uint64_t options;
  std::uint64_t labels;
};

constexpr std::size_t kMessage = 256;

std::string rank_text(int r) { return "rank " + std::to_string(r); }

}  // namespace

shard_layout check_collectively(MPI_Comm comm, const shard_call& call,
                                const std::function<void()>& local_checks,
                                const std::function<void(const shard_layout&)>& global_checks) {
  // A null communicator cannot tell the other ranks: it fails here only.
  if (comm == MPI_COMM_NULL)
    throw error(std::string("kelvin::") + call.name + ": comm is MPI_COMM_NULL");
  shard_layout layout;
  check_mpi(MPI_Comm_rank(comm, &layout.rank), "MPI_Comm_rank");
  check_mpi(MPI_Comm_size(comm, &layout.size), "MPI_Comm_size");

  std::string message;
  try {
    local_checks();
  } catch (const error& e) {
    message = e.what();
  }
  rank_record mine{};
  std::strncpy(mine.name, call.name, sizeof mine.name - 1);
  mine.bad = message.empty() ? 0 : 1;
  mine.rows = call.rows;
  mine.cols = call.cols;
  mine.offset = call.offset;
  mine.options = call.options;
  mine.labels = call.labels;
  std::vector<rank_record> all(static_cast<std::size_t>(layout.size));
  check_mpi(MPI_Allgather(&mine, sizeof mine, MPI_BYTE, all.data(), sizeof mine, MPI_BYTE, comm),
            "MPI_Allgather");

  // Every rank words the error with rank 0's entry point, so that the
  // messages agree even when the ranks called different ones.
  const std::string prefix = std::string("kelvin::") +
                             std::string(all[0].name, strnlen(all[0].name, sizeof all[0].name)) +
                             ": ";
  std::size_t bad = 0;
  for (const rank_record& r : all) bad += r.bad;
  if (bad > 0) {
    // Every rank knows a rank failed, so every rank takes this second step.
    std::vector<char> texts(kMessage * all.size());
    char out[kMessage] = {};
    std::strncpy(out, message.c_str(), kMessage - 1);
    check_mpi(MPI_Allgather(out, kMessage, MPI_CHAR, texts.data(), kMessage, MPI_CHAR, comm),
              "MPI_Allgather");
    for (std::size_t r = 0; r < all.size(); ++r) {
      if (all[r].bad == 0) continue;
      std::string text =
          prefix + rank_text(static_cast<int>(r)) + ": " + std::string(texts.data() + r * kMessage);
      if (bad > 1) text += " (and " + std::to_string(bad - 1) + " more rank(s) with bad arguments)";
      throw error(text);
    }
  }
  const rank_record& first = all[0];
  for (std::size_t r = 1; r < all.size(); ++r) {
    const rank_record& o = all[r];
    const std::string who = rank_text(static_cast<int>(r));
    if (std::strncmp(o.name, first.name, sizeof o.name) != 0)
      throw error(prefix + who + " called kelvin::" + std::string(o.name) +
                  " while rank 0 called kelvin::" + std::string(first.name));
    if (o.rows != first.rows)
      throw error(prefix + who + " has " + std::to_string(o.rows) + " rows but rank 0 has " +
                  std::to_string(first.rows) + " (every rank holds every row)");
    if (o.options != first.options)
      throw error(prefix + who +
                  "'s options (temperature(s), reduction, label smoothing, ignore_index, "
                  "empty_row policy or element type) differ from rank 0's");
    if (o.labels != first.labels) throw error(prefix + who + "'s labels differ from rank 0's");
  }
  for (const rank_record& r : all) layout.classes += r.cols;
  if (call.has_offset) {
    // The shards must tile [0, C): sorted by offset, each starts where the
    // previous ended (ranks holding no class can sit anywhere inside).
    std::vector<std::pair<std::uint64_t, std::size_t>> spans;
    for (std::size_t r = 0; r < all.size(); ++r)
      if (all[r].cols > 0) spans.emplace_back(all[r].offset, r);
    std::sort(spans.begin(), spans.end());
    std::uint64_t next = 0;
    for (const auto& [offset, r] : spans) {
      if (offset != next) {
        throw error(prefix + "the class shards do not tile [0, " + std::to_string(layout.classes) +
                    "): " + rank_text(static_cast<int>(r)) + " holds classes [" +
                    std::to_string(offset) + ", " + std::to_string(offset + all[r].cols) +
                    ") but the shards before it end at " + std::to_string(next));
      }
      next += all[r].cols;
    }
  }
  if (global_checks) {
    try {
      global_checks(layout);
    } catch (const error& e) {
      throw error(prefix + e.what());
    }
  }
  return layout;
}

}  // namespace kelvin::detail

#include "mpi/collective-error.h"

#include <mpi.h>

#include <cstdio>
#include <cstdlib>

namespace kvsvd {

namespace detail {

std::string agreed_error(const Comm& comm, const std::string& mine) {
  if (!comm.any_of(!mine.empty())) return "";
  const std::vector<std::string> all = comm.gather_bytes(mine);  // rank 0 only
  std::string first;
  bool alike = true;
  for (size_t r = 0; r < all.size(); ++r) {
    alike = alike && all[r] == all[0];
    if (first.empty() && !all[r].empty()) first = all.size() > 1 ? cat("rank ", r, ": ", all[r]) : all[r];
  }
  if (alike && !all.empty()) first = all[0];
  comm.broadcast(first);
  return first;
}

}  // namespace detail

void end_job_collectively(const std::string& command, const std::string& msg) {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  int rank = 0;
  if (initialized && !finalized) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  std::fflush(stdout);
  if (rank == 0) {
    std::fprintf(stderr, "kvsvd %s: error: %s\n", command.c_str(), msg.c_str());
    std::fflush(stderr);
  }
  if (initialized && !finalized) MPI_Finalize();
  std::exit(2);
}

int launcher_rank() {
  for (const char* name : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"}) {
    const char* v = std::getenv(name);
    if (v && *v) return std::atoi(v);
  }
  return 0;
}

}  // namespace kvsvd

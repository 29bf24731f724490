// Errors every rank of a job raises together: checks whose verdict is shared (broadcast or
// agreed) so that the job ends with one message and exit status 2, without MPI_Abort.
#pragma once
#include <string>

#include "core/util/error.h"
#include "mpi/comm.h"

namespace kvsvd {

// Thrown on every rank at once, with the same message (after the broadcast of on_root_checked or
// the agreement of on_all_checked): run_mpi_command (mpi/abort.h) ends the job through
// end_job_collectively instead of MPI_Abort.
class CollectiveError : public Error {
 public:
  using Error::Error;
};

// Runs `fn` on rank 0 only; an exception there is broadcast and rethrown as the same
// CollectiveError on every rank, so a bad input never leaves the other ranks waiting.
template <typename F>
void on_root_checked(const Comm& comm, F&& fn);

// Runs `fn` on every rank; if any rank throws, every rank throws one CollectiveError: the
// message when every rank failed alike, else the lowest failing rank's, naming that rank.
template <typename F>
void on_all_checked(const Comm& comm, F&& fn);

// Rank 0 prints "kvsvd <command>: error: <msg>", every rank finalises MPI and exits with status
// 2. Every rank must call it (it is what run_mpi_command does with a CollectiveError).
[[noreturn]] void end_job_collectively(const std::string& command, const std::string& msg);

// The rank a launcher gave this process before MPI_Init (mpirun, srun, hydra: OMPI_COMM_WORLD_RANK,
// PMIX_RANK, PMI_RANK, SLURM_PROCID), 0 without one: an error every rank finds while parsing
// its flags is printed by rank 0 only.
int launcher_rank();

// ---- implementation

namespace detail {
// Shares each rank's error text ("" for none): "" on every rank when none failed.
std::string agreed_error(const Comm& comm, const std::string& mine);
}  // namespace detail

template <typename F>
void on_root_checked(const Comm& comm, F&& fn) {
  std::string err;
  if (comm.is_root()) {
    try {
      fn();
    } catch (const std::exception& e) {
      err = e.what();
      if (err.empty()) err = "unknown error";
    }
  }
  comm.broadcast(err);
  if (!err.empty()) throw CollectiveError(err);
}

template <typename F>
void on_all_checked(const Comm& comm, F&& fn) {
  std::string err;
  try {
    fn();
  } catch (const std::exception& e) {
    err = e.what();
    if (err.empty()) err = "unknown error";
  }
  const std::string agreed = detail::agreed_error(comm, err);
  if (!agreed.empty()) throw CollectiveError(agreed);
}

}  // namespace kvsvd

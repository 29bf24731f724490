// Failing an MPI job loudly: one rank's error prints and aborts every rank (no peer hangs in a
// collective), plus the MPI check macro.
#pragma once
#include <functional>
#include <string>

namespace kvsvd {

// Prints "kvsvd [rank r/N]: error: <msg>" to stderr and calls MPI_Abort(MPI_COMM_WORLD, 2).
// Outside an initialised MPI job it prints "kvsvd: error: <msg>" and exits with status 2.
[[noreturn]] void abort_job(const std::string& msg);

// Runs an MPI stage's body. A CollectiveError (mpi/collective-error.h: every rank throws it
// together) ends the job with one message and status 2 through end_job_collectively. Any other
// kvsvd::Error or std::exception, which only some ranks may see, is turned into
// abort_job("<name>: <what>"), so a failure never leaves other ranks waiting in a collective
// (and never leaves a finished-looking store). Returns 0 when the body returns.
int run_mpi_command(const std::string& name, const std::function<void()>& body);

// Called by KVSVD_MPI_CHECK: names the call, file:line, rank and MPI_Error_string(code).
[[noreturn]] void mpi_call_failed(int code, const char* call, const char* file, int line);

}  // namespace kvsvd

// KVSVD_MPI_CHECK(MPI_Xxx(...)): aborts the job with the MPI error string when the call does not
// return MPI_SUCCESS. Our communicators use MPI_ERRORS_RETURN so that errors reach this check.
#define KVSVD_MPI_CHECK(call)                                                        \
  do {                                                                               \
    int kvsvd_mpi_rc_ = (call);                                                      \
    if (kvsvd_mpi_rc_ != MPI_SUCCESS)                                                \
      ::kvsvd::mpi_call_failed(kvsvd_mpi_rc_, #call, __FILE__, __LINE__);            \
  } while (0)

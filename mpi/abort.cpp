#include "mpi/abort.h"

#include <mpi.h>

#include <cstdio>
#include <cstdlib>
#include <exception>

#include "core/util/error.h"
#include "mpi/collective-error.h"

namespace kvsvd {

namespace {

bool mpi_running() {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  return initialized && !finalized;
}

std::string rank_tag() {
  if (!mpi_running()) return "";
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  return cat(" [rank ", rank, "/", size, "]");
}

}  // namespace

void abort_job(const std::string& msg) {
  std::fprintf(stderr, "kvsvd%s: error: %s\n", rank_tag().c_str(), msg.c_str());
  std::fflush(stderr);
  if (mpi_running()) MPI_Abort(MPI_COMM_WORLD, 2);
  std::exit(2);  // MPI_Abort does not return; this covers runs without MPI
}

int run_mpi_command(const std::string& name, const std::function<void()>& body) {
  try {
    body();
    return 0;
  } catch (const CollectiveError& e) {  // every rank is here with the same message
    end_job_collectively(name, e.what());
  } catch (const Error& e) {
    abort_job(cat(name, ": ", e.what()));
  } catch (const std::exception& e) {
    abort_job(cat(name, ": internal error: ", e.what()));
  } catch (...) {
    abort_job(cat(name, ": unknown exception"));
  }
}

void mpi_call_failed(int code, const char* call, const char* file, int line) {
  char text[MPI_MAX_ERROR_STRING] = {0};
  int len = 0;
  if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) {
    std::snprintf(text, sizeof text, "MPI error code %d", code);
  }
  abort_job(cat("MPI call failed at ", file, ":", line, ": ", call, ": ", text));
}

}  // namespace kvsvd

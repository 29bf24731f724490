#include "mpi/mpi-env.h"

#include <mpi.h>

#include "mpi/abort.h"

namespace kvsvd {

MpiEnv::MpiEnv() { init(nullptr, nullptr); }

MpiEnv::MpiEnv(int* argc, char*** argv) { init(argc, argv); }

void MpiEnv::init(int* argc, char*** argv) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    int provided = 0;
    // FUNNELED: only the main thread calls MPI; torch's worker threads never do.
    KVSVD_MPI_CHECK(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided));
    owns_ = true;
    if (provided < MPI_THREAD_FUNNELED) {
      abort_job("the MPI library does not provide MPI_THREAD_FUNNELED");
    }
  }
  KVSVD_MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &rank_));
  KVSVD_MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &size_));
  node_local_rank(&local_rank_, &local_size_);
}

MpiEnv::~MpiEnv() {
  if (!owns_) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

void node_local_rank(int* local_rank, int* local_size) {
  int rank = 0;
  KVSVD_MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &rank));
  MPI_Comm node = MPI_COMM_NULL;
  KVSVD_MPI_CHECK(
      MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node));
  KVSVD_MPI_CHECK(MPI_Comm_rank(node, local_rank));
  KVSVD_MPI_CHECK(MPI_Comm_size(node, local_size));
  KVSVD_MPI_CHECK(MPI_Comm_free(&node));
}

}  // namespace kvsvd

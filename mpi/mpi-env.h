// The MPI environment of a process: initialised once at the top of main, finalised on exit.
#pragma once

namespace kvsvd {

// RAII MPI_Init_thread(FUNNELED) / MPI_Finalize. If MPI is already initialised (a test main, an
// embedding program) the object neither initialises nor finalises. Not copyable or movable:
// construct one in main() and pass references. Rank numbers refer to MPI_COMM_WORLD.
class MpiEnv {
 public:
  MpiEnv();                          // no argc/argv: MPI accepts nullptrs
  MpiEnv(int* argc, char*** argv);
  ~MpiEnv();
  MpiEnv(const MpiEnv&) = delete;
  MpiEnv& operator=(const MpiEnv&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool is_root() const { return rank_ == 0; }
  // Rank among the processes sharing this node (MPI_COMM_TYPE_SHARED), and their number:
  // the GPU of a rank is local_rank % device_count.
  int local_rank() const { return local_rank_; }
  int local_size() const { return local_size_; }
  bool owns_init() const { return owns_; }

 private:
  void init(int* argc, char*** argv);
  bool owns_ = false;
  int rank_ = 0;
  int size_ = 1;
  int local_rank_ = 0;
  int local_size_ = 1;
};

// Node-local rank and size of the calling process in MPI_COMM_WORLD (collective: every rank of
// MPI_COMM_WORLD must call it). MpiEnv computes these once; this is for code without an MpiEnv.
void node_local_rank(int* local_rank, int* local_size);

}  // namespace kvsvd

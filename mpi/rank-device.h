// The device one MPI rank of a stage runs on, from the stage's --device flag.
#pragma once
#include <string>

namespace kvsvd {

// "cpu" and "cuda:N" come back as given. "cuda", and "auto" when a GPU is visible, give the rank's
// GPU among those of its node, "cuda:<local_rank % count>", made the current CUDA device
// (collective over MPI_COMM_WORLD then: every rank of an MPI stage passes the same flag).
// "auto" without GPUs gives "cpu". The result goes to resolve_device (core/model/aten-device.h).
std::string rank_device(const std::string& flag);

}  // namespace kvsvd

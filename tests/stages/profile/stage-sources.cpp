// The profile stage's sources compiled into this test: tests/CMakeLists.txt links the core and mpi
// libraries but no stage library, and the test runs the stage body (run_profile) in-process.
// profile-commands.cpp (the CLI binding) is left out.
#include "stages/app/option-check.cpp"
#include "stages/app/yaml-options.cpp"
#include "stages/profile/profile-budget.cpp"
#include "stages/profile/profile-calibration.cpp"
#include "stages/profile/profile-options.cpp"
#include "stages/profile/profile-stage.cpp"
#include "stages/profile/profile-wire.cpp"

// The evaluate stage's sources, compiled into this test: tests/CMakeLists.txt links MPI tests
// against the core and mpi libraries only, not the stage libraries, and the test must run the
// real stage body in-process. (If the stage library is ever linked here, delete this file.)
#include "stages/app/option-check.cpp"
#include "stages/app/yaml-options.cpp"
#include "stages/evaluate/cache-configs.cpp"
#include "stages/evaluate/eval-summary.cpp"
#include "stages/evaluate/evaluate-options.cpp"
#include "stages/evaluate/evaluate-stage.cpp"
#include "stages/evaluate/evaluate-windows.cpp"
#include "stages/evaluate/run-key.cpp"
#include "stages/evaluate/run-output.cpp"
// evaluate-stage.cpp calls the pipeline-stage files (--pipeline-stages).
#include "stages/evaluate/pipeline-evaluator.cpp"
#include "stages/evaluate/pipeline-plan.cpp"
#include "stages/evaluate/pipeline-run.cpp"

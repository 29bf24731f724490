// The sweep planner (see stage-sources-app.cpp).
#include "stages/sweep/sweep-manifest.cpp"
#include "stages/sweep/sweep-plan.cpp"
#include "stages/sweep/sweep-vocab.cpp"
#include "stages/report/report-options.cpp"

// The evaluate stage's flags (see stage-sources-app.cpp).
#include "stages/evaluate/evaluate-options.cpp"

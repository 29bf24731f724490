// The profile stage's flags (see stage-sources-app.cpp).
#include "stages/profile/profile-options.cpp"

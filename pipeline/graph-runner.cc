#include "pipeline/graph-runner.h"

/* placeholder until codegen lands */
#include "cg.h"

/* placeholder until the frontend lands */
#include "fe.h"

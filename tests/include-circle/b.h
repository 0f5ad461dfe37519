/* Made-up circle: b -> c. */
#include "c.h"

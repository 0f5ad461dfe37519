/* Made-up circle for tests/include-circles.py: a -> b -> c -> a. */
#include "b.h"

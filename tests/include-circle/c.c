/* Made-up circle: c -> a, closing it. */
#include "a.h"
int c(void);

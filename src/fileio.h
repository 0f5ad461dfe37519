/* Reading a small file whole: the one file reader, below every module
 * that reads a token, a secret ID, a CA bundle or a template. */
#ifndef VAULTEXEC_FILEIO_H
#define VAULTEXEC_FILEIO_H

#include <stddef.h>

/* Reads a small file entirely (at most max bytes, else -1 with errno
 * EFBIG).  The buffer is NUL-terminated; *len excludes the NUL. */
int read_file_limited(const char *path, size_t max, char **out, size_t *len);

#endif

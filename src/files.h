/* Files: writing --file outputs: never half-written, never readable by
 * others unless asked.  Reading a small file whole is fileio.h. */
#ifndef VAULTEXEC_FILES_H
#define VAULTEXEC_FILES_H

#include <stddef.h>
#include <sys/types.h>

#include "privs.h"
#include "render.h"

/* Writes data to a new temporary file in dest's directory with mode (and
 * owned by owner when it is set: --user), then renames it over dest.  Returns 0, or EXIT_IOERR
 * after logging a line that names dest. */
int file_write_atomic(const char *dest, const char *data, size_t len, mode_t mode,
                      const struct runas *owner);

/* The two halves of file_write_atomic, for writing several files all or
 * nothing: stage writes and syncs a temporary file (*tmp, to free), commit
 * renames it over dest, abort removes it. */
int file_stage(const char *dest, const char *data, size_t len, mode_t mode,
               const struct runas *owner, char **tmp);
int file_commit(const char *tmp, const char *dest);
void file_abort(const char *tmp);

/* For --check: would writing dest fail?  Creates and removes an empty
 * temporary file beside it, leaving nothing behind.  Returns 0 or
 * EXIT_IOERR after logging the same line the run would. */
int file_probe(const char *dest, mode_t mode, const struct runas *owner);

/* --install DIR: copies the running binary to DIR/vaultexec, mode 0555,
 * atomically.  Returns 0 or EXIT_IOERR after logging a line naming DIR. */
int file_install_self(const char *dir);

/* Writes every file that has content, all or none: each is staged first
 * and only when all are complete are they renamed into place. */
int files_write_all(const struct outfile *files, size_t n, mode_t mode, const struct runas *owner);

#endif

/* References to secret fields: FIELD, PATH#FIELD or PATH#FIELD#VERSION,
 * and writes: PATH?NAME=VALUE&NAME=VALUE#FIELD (POST with a JSON body of
 * the parameters, percent-decoded, as strings). */
#ifndef VAULTEXEC_SECREF_H
#define VAULTEXEC_SECREF_H

#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"
#include "util.h"

struct secref {
	char *path;       /* NULL: the default secret (--service / --secret) */
	char *field;      /* never NULL nor empty */
	uint64_t version; /* 0: current */
	char *params;     /* NULL, or the raw text after '?' (a write) */
};

/* Parses len bytes of s (surrounding blanks are not allowed).  Returns 0,
 * or -1 with a reason written to err. */
int secref_parse(const char *s, size_t len, struct secref *out, char *err, size_t errlen);
void secref_clear(struct secref *r);

/* Whether a secret path is usable: no "." or ".." segment (which would
 * reach another API path once normalised), no empty segment, no control
 * characters.  Slashes at both ends are allowed (trimmed by callers). */
int secpath_valid(const char *path, size_t len);
void secref_copy(struct secref *dst, const struct secref *src);

/* Reads the next NAME=VALUE of a parameter string, percent-decoded (a '+'
 * stays a '+': transit's base64 is full of them).  *pos starts at the
 * string and moves on.  Returns 1 with name and value appended (value may
 * be a secret: the caller wipes it), 0 at the end, or -1 with a reason
 * (which never quotes a value) written to err. */
int secref_param_next(const char **pos, struct strbuf *name, struct strbuf *value, char *err,
                      size_t errlen);

#endif

/* Shared by the libFuzzer harnesses: turning the fuzzer's bytes into the
 * strings, argv and environ arrays the parsers take.  Nothing here is
 * clever; the harnesses stay readable when these stay dumb. */
#ifndef VAULTEXEC_FUZZ_COMMON_H
#define VAULTEXEC_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A broken invariant is a finding: abort so libFuzzer (or the replay
 * driver) reports it with the input that caused it. */
#define FUZZ_CHECK(cond)                                                                     \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, \
			        #cond);                                                      \
			abort();                                                             \
		}                                                                            \
	} while (0)

/* The input split on NUL bytes into heap strings, NULL-terminated.  A
 * trailing NUL does not make an empty last piece. */
struct fz_split {
	char **v;
	size_t n;
};

static inline void fz_split_init(struct fz_split *s, const uint8_t *data, size_t size)
{
	size_t cap = 1;
	for (size_t i = 0; i < size; i++)
		cap += data[i] == 0;
	s->v = xcalloc(cap + 1, sizeof(*s->v));
	s->n = 0;
	size_t start = 0;
	for (size_t i = 0; i <= size; i++) {
		if (i == size || data[i] == 0) {
			if (i == size && i == start && s->n > 0)
				break;
			s->v[s->n++] = xstrndup((const char *)data + start, i - start);
			start = i + 1;
		}
	}
	s->v[s->n] = NULL;
}

static inline void fz_split_free(struct fz_split *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

/* The input as one NUL-terminated string (stops at the first NUL). */
static inline char *fz_cstr(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	return xstrndup((const char *)data, nul ? (size_t)(nul - data) : size);
}

/* Templates may be read from a file (--file DEST=@FILE).  Keep the
 * fuzzer to plain names, which resolve in the working directory, so it
 * cannot open a FIFO or a terminal (/dev/tty, /proc/self/fd/0) and hang. */
static inline int fz_has_at_path(const uint8_t *data, size_t size)
{
	for (size_t i = 0; i < size; i++) {
		if (data[i] != '@')
			continue;
		for (size_t j = i + 1; j < size && data[j] && data[j] != '\n' && data[j] != ',';
		     j++)
			if (data[j] == '/')
				return 1;
	}
	return 0;
}

#endif

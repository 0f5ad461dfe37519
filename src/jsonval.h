/* Vault's JSON, read with cJSON, turned into text for the environment.
 *
 * cJSON alone loses two things we must keep: the exact text of numbers
 * (it stores doubles, so 12345678901234567890 would come out rounded) and
 * NUL bytes inside strings (it silently truncates at "\u0000").  A light
 * scan of the raw text records both, matched to cJSON's nodes by document
 * order, which cJSON preserves. */
#ifndef VAULTEXEC_JSONVAL_H
#define VAULTEXEC_JSONVAL_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "strbuf.h"
#include "util.h"

struct jdoc;

/* Parses exactly len bytes (the text must be NUL-terminated at len).
 * Returns 0, or -1 when the text is not one well-formed JSON value. */
int jdoc_parse(const char *text, size_t len, struct jdoc **out);
/* NULL for a NULL document (a body that was empty or not JSON). */
const cJSON *jdoc_root(const struct jdoc *d);
void jdoc_free(struct jdoc *d);

enum jval_result { JVAL_OK = 0, JVAL_NULL = 1, JVAL_HAS_NUL = -1 };

/* Appends the environment text of a value: strings as they are, numbers
 * as their literal text, true/false, objects and arrays as compact JSON.
 * JVAL_NULL for null (nothing appended), JVAL_HAS_NUL when the value or
 * anything inside it holds a NUL byte. */
enum jval_result jval_to_text(const struct jdoc *d, const cJSON *node, struct strbuf *out);

/* Whether the member name of node (its key in an object) held a NUL. */
int jval_key_has_nul(const struct jdoc *d, const cJSON *node);

/* Helpers for reading envelopes leniently. */
const cJSON *json_get(const cJSON *obj, const char *key); /* NULL unless obj is an object */
const char *json_get_string(const cJSON *obj, const char *key);

/* Makes cJSON free every block through wipe_free (and grow its print
 * buffers by malloc, copy and wipe_free instead of realloc).  Once, at
 * start-up, before any cJSON call. */
void json_wipe_on_free(void);

/* Prints an object whose members are strings (a login body) into the empty out, in
 * one buffer sized for the worst case, so no partial copy of a credential
 * is left in freed memory; release out with sb_wipe. */
void json_print_flat(const cJSON *obj, struct strbuf *out);

#endif

/* The template language of --env and --file:
 *
 *   text {{ ref }} text {{ ref | filter | filter "arg" }}
 *
 * A ref is FIELD (a field of the default secret), PATH#FIELD or
 * PATH#FIELD#VERSION or PATH?NAME=VALUE&...#FIELD (a write); its token
 * ends at whitespace, '|' or "}}".  Instead of a ref an expression may be
 * a double-quoted string (escapes \" \\ \n \t), so "{{" can be written
 * literally as {{ "{{" }}.  A "}}"
 * outside an expression is plain text.
 *
 * Filters: urlencode (RFC 3986 unreserved kept), base64, json (a JSON
 * string literal, quotes included), default "x" (used when the ref is
 * missing; filters after it apply to x, filters before it are skipped),
 * plus trim, upper and lower (ASCII only), join "SEP" (an array's
 * elements, e.g. PKI's ca_chain) and base64decode (transit's plaintext;
 * a NUL byte in the result is an error).
 *
 * Parsing is pure string work and does no I/O; rendering asks a callback
 * for each value.  Errors name the 1-based column. */
#ifndef VAULTEXEC_TEMPLATE_H
#define VAULTEXEC_TEMPLATE_H

#include <stddef.h>

#include "secref.h"
#include "strbuf.h"
#include "util.h"

struct tmpl;

/* Returns 0, or -1 with a message like "column 12: unknown filter 'foo'"
 * written to err. */
int tmpl_parse(const char *text, struct tmpl **out, char *err, size_t errlen);
void tmpl_free(struct tmpl *t);

/* The refs used by a template, in order of appearance (duplicates kept). */
size_t tmpl_ref_count(const struct tmpl *t);
const struct secref *tmpl_ref(const struct tmpl *t, size_t i);
/* Whether ref i is followed by a default filter (then missing is fine). */
int tmpl_ref_has_default(const struct tmpl *t, size_t i);

/* Lookup callback: returns 0 and sets *val and *len when found, 1 when the
 * secret or field is missing, or an exit code (>1) to abort rendering. */
typedef int (*tmpl_lookup_fn)(void *ctx, const struct secref *ref, const char **val, size_t *len);

/* A filter could not apply to a value (err says which and why). */
#define TMPL_FILTER_FAILED (-1)

/* Renders into out (appended).  Returns 0, 1 when a ref without default is
 * missing (err names the ref, never a value), TMPL_FILTER_FAILED, or the
 * callback's exit code (err untouched: the callback reports its own
 * errors).  On failure out is left as it was. */
int tmpl_render(const struct tmpl *t, tmpl_lookup_fn lookup, void *ctx, struct strbuf *out,
                char *err, size_t errlen);

#endif

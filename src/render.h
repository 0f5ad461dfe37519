/* From configuration and secrets to the data the child gets: variables
 * from --map, --map-all, --env and environment references, and the
 * contents of --file files.  No I/O beyond what plan lookups do. */
#ifndef VAULTEXEC_RENDER_H
#define VAULTEXEC_RENDER_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "plan.h"
#include "template.h"

struct outvar {
	char *name;
	char *value; /* NULL: remove the variable (missing, --allow-missing) */
	size_t len;
	bool from_env_ref; /* replaces an inherited vault: reference */
};

struct outfile {
	char *path;
	char *content; /* NULL: not written (missing, --allow-missing) */
	size_t len;
};

struct envref; /* an inherited variable holding vault: references */

struct job {
	const struct config *cfg;
	char **inherited; /* the environment the child inherits (not owned) */
	struct tmpl **env_t;
	struct tmpl **file_t;
	struct envref *refs;
	size_t nrefs;
	struct outvar *vars;
	size_t nvars;
	struct outfile *files;
	size_t nfiles;
};

/* Parses templates and environment references and registers every secret
 * they read with the plan.  Returns 0 or an exit code after logging. */
int job_prepare(struct job *j, const struct config *cfg, char **environ_, struct plan *p);

/* Looks everything up and fills vars and files.  Returns 0 or an exit
 * code after logging; never a partial result on error. */
int job_render(struct job *j, struct plan *p);

void job_free(struct job *j);

/* --map-all's name for a field: upper-cased, [^A-Z0-9_] as '_', prefixed.
 * NULL when the result is not a valid variable name. */
char *render_map_all_name(const char *prefix, const char *field);

#endif

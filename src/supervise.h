/* --supervise: instead of exec, stay the command's parent.  A tiny init
 * (signals forwarded, zombies reaped, the child's exit code passed on)
 * that also keeps the secrets fresh: it renews its token or logs in
 * again, re-reads the secrets every --poll, and on a change rewrites the
 * files and restarts or reloads the command.  One thread, one wait. */
#ifndef VAULTEXEC_SUPERVISE_H
#define VAULTEXEC_SUPERVISE_H

#include "auth.h"
#include "config.h"
#include "plan.h"
#include "render.h"
#include "vault.h"

/* Runs the command under supervision until it ends.  The first plan and
 * job (already rendered, files already written) are taken over: *plan and
 * *job are replaced as values change and still owned by the caller on
 * return.  Returns the command's exit code, 128+N when a signal N killed
 * it, or an exit code after logging when it could not be started. */
int supervise_run(const struct config *cfg, struct vault *v, struct auth_state *auth,
                  struct plan **plan, struct job *job, const char *cmd, char **environ_);

#endif

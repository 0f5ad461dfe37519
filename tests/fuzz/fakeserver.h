/* A canned-answer HTTP server on a unix socket, in a thread of the
 * harness, so vault.c and http.c run over real libcurl without touching
 * the network: vaultexec's unix:// addresses send every request, redirects
 * included, to the socket whatever the URL's host.
 *
 * Each connection gets the next queued answer, written as it is, then the
 * connection is closed.  With no answer left the connection is closed at
 * once (libcurl sees "empty reply"). */
#ifndef VAULTEXEC_FUZZ_FAKESERVER_H
#define VAULTEXEC_FUZZ_FAKESERVER_H

#include <stddef.h>

/* Starts the server once; returns the socket path ("unix://" not
 * included).  Exits the process if it cannot. */
const char *fakeserver_start(void);

/* Replaces the queue; answers are copied. */
void fakeserver_set(const char *const *answers, const size_t *lens, size_t n);

/* Connections served since the last fakeserver_set. */
size_t fakeserver_served(void);

#endif

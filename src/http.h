/* HTTP over libcurl.  Knows nothing of Vault: one request at a time on a
 * reused handle, no automatic redirects, bodies capped; interruptible on
 * request (libcurl's multi interface polled with the caller's fd). */
#ifndef VAULTEXEC_HTTP_H
#define VAULTEXEC_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"
#include "util.h"

#define HTTP_MAX_BODY (1u << 20)

struct http_tls {
	const char *ca_file; /* replaces the default roots */
	const char *ca_blob; /* PEM text (from a CA directory); replaces the default roots */
	size_t ca_blob_len;
	const char *client_cert;
	const char *client_key;
	const char *server_name; /* SNI and verified name */
	bool skip_verify;
};

struct http_client;

enum http_status {
	HTTP_OK = 0,       /* a response arrived (any status code) */
	HTTP_E_CONNECT,    /* transport failure worth retrying */
	HTTP_E_TIMEOUT,    /* no complete answer within the timeout */
	HTTP_E_TLS_VERIFY, /* certificate or host name rejected: not retried */
	HTTP_E_TLS_CONFIG, /* our own CA/cert/key could not be used */
	HTTP_E_TOO_LARGE,  /* body over HTTP_MAX_BODY */
	HTTP_E_OTHER,      /* anything else: not retried */
	HTTP_E_ABANDONED,  /* the interrupt (http_set_interrupt) said stop: not retried */
};

struct http_response {
	long code;
	struct strbuf body;
	char *location;     /* Location header, if any */
	long retry_after_s; /* Retry-After in seconds, -1 if absent */
};

/* unix_socket: connect there instead of the URL's host. */
int http_client_new(struct http_client **out, const struct http_tls *tls, const char *unix_socket);
void http_client_free(struct http_client *c);

/* Makes every request of c interruptible, for a caller that must never
 * keep a signal waiting on the network: while a request runs, fd (a
 * signalfd) is polled with its sockets, and stop(arg) is asked whenever fd
 * is readable and before each request starts.  A true answer abandons
 * the request (HTTP_E_ABANDONED).  fd -1: requests run to their end. */
void http_set_interrupt(struct http_client *c, int fd, bool (*stop)(void *arg), void *arg);

/* headers: NULL-terminated "Name: value" strings (may hold secrets; they
 * are not logged).  body: NULL for none.  err gets a one-line reason for
 * anything but HTTP_OK.  The caller releases resp with http_response_clear. */
enum http_status http_request(struct http_client *c, const char *method, const char *url,
                              const char *const *headers, const char *body, uint64_t timeout_ms,
                              struct http_response *resp, char *err, size_t errlen);
void http_response_clear(struct http_response *resp);

/* Pure parts, exposed for tests/unit/test_http.c. */
/* A Retry-After value in seconds (0..86400, or an HTTP date: the seconds
 * until it, 0 if past), or -1 when it is neither. */
long http_parse_retry_after(const char *v, size_t n);
/* How a libcurl result code (CURLcode) counts; too_large: our body cap hit. */
enum http_status http_classify(int code, bool too_large);
/* Whether a TLS error text says the server answered in plain HTTP. */
bool http_plaintext_reply(const char *errbuf);

#endif

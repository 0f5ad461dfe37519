#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <mbedtls/platform_util.h>

#include "log.h"
#include "strbuf.h"

struct http_client {
	CURL *curl;
	CURLSH *share; /* connections, TLS sessions and DNS, across handles */
	struct http_tls tls;
	char *unix_socket;
	struct curl_slist *connect_to;
	bool too_large;
	/* http_set_interrupt: requests go through the multi handle */
	CURLM *multi;
	int intr_fd;
	bool (*stop)(void *arg);
	void *stop_arg;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
	struct http_response *resp = ((void **)userp)[0];
	struct http_client *c = ((void **)userp)[1];
	size_t n = size * nmemb;
	if (resp->body.len + n > HTTP_MAX_BODY) {
		c->too_large = true;
		return 0; /* makes curl stop with CURLE_WRITE_ERROR */
	}
	sb_add(&resp->body, data, n);
	return n;
}

static void trim_header_value(const char **v, size_t *n)
{
	while (*n && (**v == ' ' || **v == '\t'))
		(*v)++, (*n)--;
	while (*n && ((*v)[*n - 1] == '\r' || (*v)[*n - 1] == '\n' || (*v)[*n - 1] == ' '))
		(*n)--;
}

long http_parse_retry_after(const char *v, size_t n)
{
	char tmp[64];
	if (n >= sizeof(tmp))
		return -1;
	memcpy(tmp, v, n);
	tmp[n] = '\0';
	uint64_t secs;
	if (parse_u64(tmp, 0, 86400, &secs) == 0)
		return (long)secs;
	/* An HTTP-date; a date in the past means now. */
	time_t when = curl_getdate(tmp, NULL);
	if (when == -1)
		return -1;
	time_t now = time(NULL);
	return when > now ? (long)(when - now) : 0;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userp)
{
	struct http_response *resp = ((void **)userp)[0];
	size_t n = size * nmemb;
	static const char loc[] = "location:", ra[] = "retry-after:";
	if (n > sizeof(loc) - 1 && strncasecmp(data, loc, sizeof(loc) - 1) == 0) {
		const char *v = data + sizeof(loc) - 1;
		size_t vn = n - (sizeof(loc) - 1);
		trim_header_value(&v, &vn);
		free(resp->location);
		resp->location = xstrndup(v, vn);
	} else if (n > sizeof(ra) - 1 && strncasecmp(data, ra, sizeof(ra) - 1) == 0) {
		const char *v = data + sizeof(ra) - 1;
		size_t vn = n - (sizeof(ra) - 1);
		trim_header_value(&v, &vn);
		long secs = http_parse_retry_after(v, vn);
		if (secs >= 0)
			resp->retry_after_s = secs;
	}
	return n;
}

int http_client_new(struct http_client **out, const struct http_tls *tls, const char *unix_socket)
{
	static bool global_done;
	if (!global_done) {
		/* libcurl copies our headers (X-Vault-Token) into its request
		 * buffer and the answers (secrets) into its receive buffers: let
		 * it free through wipe_free and grow through wipe_realloc. */
		if (curl_global_init_mem(CURL_GLOBAL_DEFAULT, malloc, wipe_free, wipe_realloc,
		                         strdup, calloc) != CURLE_OK)
			return -1;
		global_done = true;
	}
	struct http_client *c = xcalloc(1, sizeof(*c));
	c->curl = curl_easy_init();
	c->share = curl_share_init();
	if (!c->curl || !c->share) {
		curl_easy_cleanup(c->curl);
		curl_share_cleanup(c->share);
		free(c);
		return -1;
	}
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	c->tls = *tls;
	c->intr_fd = -1;
	if (unix_socket)
		c->unix_socket = xstrdup(unix_socket);
	*out = c;
	return 0;
}

void http_client_free(struct http_client *c)
{
	if (c) {
		if (c->multi)
			curl_multi_cleanup(c->multi);
		curl_easy_cleanup(c->curl);
		curl_share_cleanup(c->share);
		curl_slist_free_all(c->connect_to);
		free(c->unix_socket);
	}
	free(c);
}

void http_set_interrupt(struct http_client *c, int fd, bool (*stop)(void *arg), void *arg)
{
	c->intr_fd = stop ? fd : -1;
	c->stop = stop;
	c->stop_arg = arg;
}

void http_response_clear(struct http_response *resp)
{
	sb_wipe(&resp->body);
	free(resp->location);
	resp->location = NULL;
	resp->code = 0;
	resp->retry_after_s = -1;
}

/* --tls-server-name: connect to the URL's host but talk TLS to NAME.  curl
 * has no separate SNI option, so the URL carries NAME and CONNECT_TO maps
 * NAME:port back to the real host. */
static char *apply_server_name(struct http_client *c, const char *url)
{
	CURLU *u = curl_url();
	char *host = NULL, *port = NULL, *newurl = NULL;
	if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK ||
	    curl_url_set(u, CURLUPART_HOST, c->tls.server_name, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_URL, &newurl, 0) != CURLUE_OK) {
		curl_free(host);
		curl_free(port);
		curl_url_cleanup(u);
		return NULL;
	}
	char *rule = xasprintf("%s:%s:%s:%s", c->tls.server_name, port, host, port);
	curl_slist_free_all(c->connect_to);
	c->connect_to = curl_slist_append(NULL, rule);
	free(rule);
	char *ret = xstrdup(newurl);
	curl_free(host);
	curl_free(port);
	curl_free(newurl);
	curl_url_cleanup(u);
	return ret;
}

enum http_status http_classify(int code, bool too_large)
{
	switch ((CURLcode)code) {
	case CURLE_OK:
		return HTTP_OK;
	case CURLE_WRITE_ERROR:
		return too_large ? HTTP_E_TOO_LARGE : HTTP_E_OTHER;
	case CURLE_OPERATION_TIMEDOUT:
		return HTTP_E_TIMEOUT;
	case CURLE_FILESIZE_EXCEEDED:
		return HTTP_E_TOO_LARGE;
	case CURLE_PEER_FAILED_VERIFICATION:
#if LIBCURL_VERSION_NUM >= 0x074600
	case CURLE_SSL_ISSUER_ERROR:
#endif
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		return HTTP_E_TLS_VERIFY;
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CRL_BADFILE:
		return HTTP_E_TLS_CONFIG;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_WEIRD_SERVER_REPLY:
		return HTTP_E_CONNECT;
	default:
		return HTTP_E_OTHER;
	}
}

/* How the TLS libraries report a server that answered a ClientHello with
 * plain HTTP: OpenSSL and mbedtls wordings. */
bool http_plaintext_reply(const char *errbuf)
{
	static const char *const marks[] = {"wrong version number", "packet length too long",
	                                    "unknown protocol",     "invalid SSL record",
	                                    "INVALID_RECORD",       "record layer failure"};
	for (size_t i = 0; i < ARRAY_SIZE(marks); i++)
		if (strstr(errbuf, marks[i]))
			return true;
	return false;
}

/* The header list holds X-Vault-Token: wipe every copy before freeing. */
static void slist_wipe_free(struct curl_slist *l)
{
	for (struct curl_slist *p = l; p; p = p->next)
		if (p->data)
			mbedtls_platform_zeroize(p->data, strlen(p->data));
	curl_slist_free_all(l);
}

static void set_tls_options(struct http_client *c, CURL *h)
{
	if (c->tls.ca_file) {
		curl_easy_setopt(h, CURLOPT_CAINFO, c->tls.ca_file);
		/* A CA file replaces the system roots, so drop the default
		 * directory some builds also trust. */
		curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
	} else if (c->tls.ca_blob) {
		struct curl_blob blob = {(void *)c->tls.ca_blob, c->tls.ca_blob_len,
		                         CURL_BLOB_NOCOPY};
		curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
		curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
		curl_easy_setopt(h, CURLOPT_CAINFO, NULL);
	}
	if (c->tls.client_cert) {
		curl_easy_setopt(h, CURLOPT_SSLCERT, c->tls.client_cert);
		curl_easy_setopt(h, CURLOPT_SSLKEY, c->tls.client_key);
	}
	if (c->tls.skip_verify) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
}

static void set_options(struct http_client *c, CURL *h, const char *method, const char *body,
                        uint64_t timeout_ms, void **ctx, char *errbuf)
{
	if (strcmp(method, "HEAD") == 0) {
		/* No body to wait for: only NOBODY tells libcurl so. */
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (body) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	} else {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
		if (strcmp(method, "GET") != 0) {
			curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
			curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
		}
	}
	curl_easy_setopt(h, CURLOPT_USERAGENT, "vaultexec/" VAULTEXEC_VERSION);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075700
	/* Without it a timed-out request still waits for the threaded
	 * resolver to finish, so --request-timeout would not bound DNS. */
	curl_easy_setopt(h, CURLOPT_QUICK_EXIT, 1L);
#endif
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, ctx);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, ctx);
	curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)HTTP_MAX_BODY);
	if (c->unix_socket)
		curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, c->unix_socket);
	set_tls_options(c, h);
}

/* curl_easy_perform, or with an interrupt the same transfer driven by the
 * multi interface: one poll over its sockets, its timers (the timeouts
 * stay libcurl's) and the caller's fd, so that stop() is asked within
 * moments of fd turning readable whatever the server does (a hung
 * connection, a slow TLS handshake). */
static CURLcode perform(struct http_client *c, CURL *h, bool *abandoned)
{
	if (c->intr_fd < 0)
		return curl_easy_perform(h);
	if (!c->multi && !(c->multi = curl_multi_init()))
		return CURLE_OUT_OF_MEMORY;
	if (curl_multi_add_handle(c->multi, h) != CURLM_OK)
		return CURLE_FAILED_INIT;
	CURLcode rc = CURLE_FAILED_INIT;
	for (;;) {
		int running = 0;
		if (curl_multi_perform(c->multi, &running) != CURLM_OK)
			break;
		if (!running) {
			CURLMsg *m;
			int left;
			while ((m = curl_multi_info_read(c->multi, &left)))
				if (m->msg == CURLMSG_DONE)
					rc = m->data.result;
			break;
		}
		struct curl_waitfd w = {c->intr_fd, CURL_WAIT_POLLIN, 0};
		if (curl_multi_poll(c->multi, &w, 1, 1000, NULL) != CURLM_OK)
			break;
		if ((w.revents & CURL_WAIT_POLLIN) && c->stop(c->stop_arg)) {
			*abandoned = true;
			break;
		}
	}
	/* An unfinished transfer's connection is closed, not reused. */
	curl_multi_remove_handle(c->multi, h);
	return rc;
}

/* The status and err of a finished transfer. */
static enum http_status outcome(struct http_client *c, CURLcode rc, const char *errbuf,
                                struct http_response *resp, char *err, size_t errlen)
{
	enum http_status st = http_classify(rc, c->too_large);
	if (st == HTTP_OK) {
		curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &resp->code);
		return HTTP_OK;
	}
	/* A TLS handshake answered in plain HTTP is a configuration error
	 * (http:// server, https:// address), not something to wait out. */
	if (rc == CURLE_SSL_CONNECT_ERROR && http_plaintext_reply(errbuf)) {
		snprintf(err, errlen, "%s (is the server plain HTTP? then use http:// in --addr)",
		         errbuf);
		return HTTP_E_TLS_CONFIG;
	}
	if (st == HTTP_E_TOO_LARGE)
		snprintf(err, errlen, "response body too large (over %u bytes)", HTTP_MAX_BODY);
	else
		snprintf(err, errlen, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
	sb_wipe(&resp->body);
	return st;
}

enum http_status http_request(struct http_client *c, const char *method, const char *url,
                              const char *const *headers, const char *body, uint64_t timeout_ms,
                              struct http_response *resp, char *err, size_t errlen)
{
	CURL *h;
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hl = NULL;
	void *ctx[2] = {resp, c};
	_cleanup_free_ char *sni_url = NULL;

	http_response_clear(resp);
	c->too_large = false;
	if (c->stop && c->stop(c->stop_arg)) {
		snprintf(err, errlen, "abandoned");
		return HTTP_E_ABANDONED;
	}
#if LIBCURL_VERSION_NUM >= 0x080100
	/* One handle reset between requests: a fresh one would also build
	 * and tear down curl_easy_perform's multi handle (an eventfd, its
	 * hash tables) every time. */
	if (c->curl)
		curl_easy_reset(c->curl);
	else
		c->curl = curl_easy_init();
#else
	/* A fresh handle per request, not curl_easy_reset: libcurl before
	 * 8.1.0 keeps a pointer to the previous response's last header and
	 * follows it when the next response opens with a folded header line,
	 * a use after free any server can trigger (curl#11101; found by
	 * tests/fuzz/fuzz_http).  The share still reuses connections. */
	curl_easy_cleanup(c->curl);
	c->curl = curl_easy_init();
#endif
	h = c->curl;
	if (!h) {
		snprintf(err, errlen, "cannot initialise libcurl");
		return HTTP_E_OTHER;
	}
	curl_easy_setopt(h, CURLOPT_SHARE, c->share);

	if (c->tls.server_name && strncmp(url, "https://", 8) == 0) {
		sni_url = apply_server_name(c, url);
		if (!sni_url) {
			snprintf(err, errlen, "cannot apply --tls-server-name to %s", url);
			return HTTP_E_OTHER;
		}
		curl_easy_setopt(h, CURLOPT_CONNECT_TO, c->connect_to);
		url = sni_url;
	}
	for (const char *const *p = headers; p && *p; p++)
		hl = curl_slist_append(hl, *p);
	/* curl adds "Expect: 100-continue" to some POSTs; Vault never needs it. */
	hl = curl_slist_append(hl, "Expect:");
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
	set_options(c, h, method, body, timeout_ms, ctx, errbuf);

	bool abandoned = false;
	CURLcode rc = perform(c, h, &abandoned);
	slist_wipe_free(hl);
	if (abandoned) {
		sb_wipe(&resp->body);
		snprintf(err, errlen, "abandoned");
		return HTTP_E_ABANDONED;
	}
	return outcome(c, rc, errbuf, resp, err, errlen);
}

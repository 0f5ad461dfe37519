#include "vault.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <curl/curl.h>
#include <mbedtls/platform_util.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "strbuf.h"

/* Backoff between attempts: full jitter over an exponentially growing
 * window, so containers started together spread out instead of retrying
 * in step. */
#define BACKOFF_BASE_MS 200
#define BACKOFF_CAP_MS 3000

struct vault {
	struct http_client *http;
	char *base; /* scheme://host[:port][/prefix], no trailing slash */
	bool https;
	char *namespace_;
	char *token;
	uint64_t deadline;      /* monotonic ms; 0 = single attempt */
	bool retried_elsewhere; /* single attempts because the caller retries */
	uint64_t request_timeout_ms;
	bool addr_default; /* the built-in https://127.0.0.1:8200 */
	char *ca_blob;
	size_t ca_blob_len;
	const char *ca_used;      /* for messages: which CA file, if any */
	const char *token_origin; /* for messages: the given token's source, or NULL */
	const char *auth_method;  /* for messages: the login method */
	uint64_t attempt_seed;
	char why[128];  /* backoff's reason for giving up, when it is built */
	bool unchecked; /* no answer yet shows the node serves: see exchange */
};

/* Where CA bundles live on the common distributions; searched when no CA
 * option is given, which is what makes TLS work from a scratch image that
 * only carries a bundle. */
static const char *const ca_bundle_paths[] = {
    "/etc/ssl/certs/ca-certificates.crt",                /* Debian, Ubuntu, Alpine, distroless */
    "/etc/pki/tls/certs/ca-bundle.crt",                  /* Fedora, RHEL */
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", /* RHEL 7+ */
    "/etc/ssl/ca-bundle.pem",                            /* openSUSE */
    "/etc/pki/tls/cacert.pem",                           /* OpenELEC */
    "/etc/ssl/cert.pem",                                 /* Alpine, macOS */
};

/* VAULT_CAPATH semantics (go-rootcerts): every file under the directory,
 * recursively, is a PEM file; one that is not fails the configuration. */
static int load_ca_dir(struct strbuf *out, const char *dir, int depth)
{
	if (depth > 8)
		return 0;
	DIR *d = opendir(dir);
	if (!d) {
		log_error("--ca-path %s: %s", dir, strerror(errno));
		return EXIT_CONFIG;
	}
	struct dirent *e;
	int r = 0;
	while (!r && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		_cleanup_free_ char *p = xasprintf("%s/%s", dir, e->d_name);
		struct stat st;
		if (stat(p, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			r = load_ca_dir(out, p, depth + 1);
			continue;
		}
		char *text;
		size_t len;
		if (read_file_limited(p, 4u << 20, &text, &len) < 0) {
			log_error("--ca-path: cannot read %s: %s", p, strerror(errno));
			r = EXIT_CONFIG;
		} else if (!strstr(text, "-----BEGIN CERTIFICATE-----")) {
			log_error("--ca-path: %s is not a PEM certificate file", p);
			r = EXIT_CONFIG;
		} else {
			sb_add(out, text, len);
			sb_addc(out, '\n');
		}
		free(text);
	}
	closedir(d);
	return r;
}

static int check_readable(const char *what, const char *path)
{
	char *text;
	size_t len;
	if (read_file_limited(path, 4u << 20, &text, &len) < 0) {
		log_error("%s %s: cannot read: %s", what, path, strerror(errno));
		return EXIT_CONFIG;
	}
	secure_free(text, len);
	return 0;
}

static int parse_addr(struct vault *v, const char *addr, char **unix_socket)
{
	if (strncmp(addr, "unix://", 7) == 0) {
		/* As the Go client: plain HTTP to "localhost" over the socket;
		 * any path in the address is dropped. */
		if (addr[7] != '/') {
			log_error("--addr %s: a unix socket address needs an absolute path", addr);
			return EXIT_USAGE;
		}
		*unix_socket = xstrdup(addr + 7);
		v->base = xstrdup("http://localhost");
		return 0;
	}
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
	int r = 0;
	if (curl_url_set(u, CURLUPART_URL, addr, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		log_error("--addr '%s' is not a URL like https://vault:8200", addr);
		r = EXIT_USAGE;
		goto out;
	}
	if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
		log_error("--addr %s: scheme must be http, https or unix", addr);
		r = EXIT_USAGE;
		goto out;
	}
	curl_url_get(u, CURLUPART_PORT, &port, 0);
	curl_url_get(u, CURLUPART_PATH, &path, 0);
	size_t plen = path ? strlen(path) : 0;
	while (plen && path[plen - 1] == '/')
		plen--;
	/* The API's /v1 is ours to add; given in the address it doubles
	 * (/v1/v1/sys/health, which Vault refuses with 403). */
	if (plen >= 3 && strncmp(path + plen - 3, "/v1", 3) == 0) {
		log_error("--addr %s: leave out the /v1 (give %s://%s%s%s%.*s); vaultexec adds it",
		          addr, scheme, host, port ? ":" : "", port ? port : "", (int)(plen - 3),
		          path);
		r = EXIT_CONFIG;
		goto out;
	}
	v->https = strcmp(scheme, "https") == 0;
	v->base = xasprintf("%s://%s%s%s%.*s", scheme, host, port ? ":" : "", port ? port : "",
	                    (int)plen, path ? path : "");
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_url_cleanup(u);
	return r;
}

static int set_namespace(struct vault *v, const char *ns)
{
	if (!ns || !*ns)
		return 0;
	if (has_ctl(ns, strlen(ns))) {
		log_error("--namespace: control character in namespace");
		return EXIT_USAGE;
	}
	v->namespace_ = xstrdup(ns);
	return 0;
}

/* No CA option: the system bundle, searched in the usual places. */
static int find_ca_bundle(struct vault *v, struct http_tls *tls)
{
	for (size_t i = 0; i < ARRAY_SIZE(ca_bundle_paths); i++)
		if (access(ca_bundle_paths[i], R_OK) == 0) {
			tls->ca_file = ca_bundle_paths[i];
			break;
		}
	v->ca_used = tls->ca_file;
	if (tls->ca_file) {
		log_debug("using CA bundle %s", tls->ca_file);
		return 0;
	}
#ifdef VAULTEXEC_STATIC
	/* The static build has no compiled-in default to fall back on. */
	log_error("no CA bundle found for %s (looked in /etc/ssl/certs/ca-certificates.crt and "
	          "the other usual places); give one with --ca-cert or VAULT_CACERT",
	          v->base);
	return EXIT_CONFIG;
#else
	log_debug("no CA bundle in the usual places; using libcurl's default");
	v->ca_used = "libcurl's default CA store";
	return 0;
#endif
}

static int load_ca(struct vault *v, const struct config *cfg, struct http_tls *tls)
{
	int r = 0;
	if (cfg->ca_cert) {
		r = check_readable("--ca-cert", cfg->ca_cert);
		tls->ca_file = cfg->ca_cert;
		v->ca_used = cfg->ca_cert;
	} else if (cfg->ca_path) {
		struct strbuf sb = STRBUF_INIT;
		r = load_ca_dir(&sb, cfg->ca_path, 0);
		if (!r && sb.len == 0) {
			log_error("--ca-path %s: no certificate files found", cfg->ca_path);
			r = EXIT_CONFIG;
		}
		if (r) {
			sb_wipe(&sb);
			return r;
		}
		v->ca_blob_len = sb.len;
		v->ca_blob = sb_steal(&sb);
		tls->ca_blob = v->ca_blob;
		tls->ca_blob_len = v->ca_blob_len;
		v->ca_used = cfg->ca_path;
	} else if (v->https && !cfg->tls_skip_verify) {
		r = find_ca_bundle(v, tls);
	}
	return r;
}

static int setup_tls(struct vault *v, const struct config *cfg, struct http_tls *tls)
{
	tls->skip_verify = cfg->tls_skip_verify;
	tls->server_name = cfg->tls_server_name;
	if (cfg->tls_skip_verify)
		log_warn("TLS certificate verification is off (--tls-skip-verify / "
		         "VAULT_SKIP_VERIFY): anyone on the path can read the secrets");
	int r = load_ca(v, cfg, tls);
	if (r || !cfg->client_cert)
		return r;
	if ((r = check_readable("--client-cert", cfg->client_cert)) ||
	    (r = check_readable("--client-key", cfg->client_key)))
		return r;
	tls->client_cert = cfg->client_cert;
	tls->client_key = cfg->client_key;
	return 0;
}

int vault_open(struct vault **out, const struct config *cfg)
{
	struct vault *v = xcalloc(1, sizeof(*v));
	_cleanup_free_ char *unix_socket = NULL;
	struct http_tls tls = {0};
	v->request_timeout_ms = cfg->request_timeout_ms;
	v->addr_default = cfg->addr_default;
	v->auth_method = cfg->auth_method ? cfg->auth_method : "token";
	if (strcmp(v->auth_method, "token") == 0 && cfg->token_origin[0])
		v->token_origin = cfg->token_origin;
	v->deadline = cfg->wait_ms ? now_ms() + cfg->wait_ms : 0;
	int r = parse_addr(v, cfg->addr, &unix_socket);
	if (!r)
		r = set_namespace(v, cfg->namespace_);
	if (!r)
		r = setup_tls(v, cfg, &tls);
	if (!r && http_client_new(&v->http, &tls, unix_socket) < 0) {
		log_error("cannot initialise libcurl");
		r = EXIT_SOFTWARE;
	}
	if (r) {
		vault_close(v);
		return r;
	}
	if (v->addr_default)
		log_info("no --addr, VAULT_ADDR or BAO_ADDR given; using the default %s", v->base);
	v->attempt_seed = random_u64();
	v->unchecked = true;
	*out = v;
	return 0;
}

void vault_close(struct vault *v)
{
	if (!v)
		return;
	http_client_free(v->http);
	secure_free_str(v->token);
	char *owned[] = {v->namespace_, v->base, v->ca_blob};
	for (size_t i = 0; i < ARRAY_SIZE(owned); i++)
		free(owned[i]);
	free(v);
}

void vault_set_wait(struct vault *v, uint64_t wait_ms)
{
	v->deadline = wait_ms ? now_ms() + wait_ms : 0;
	v->retried_elsewhere = !wait_ms;
}

void vault_set_interrupt(struct vault *v, int fd, bool (*stop)(void *arg), void *arg)
{
	http_set_interrupt(v->http, fd, stop, arg);
}

void vault_set_token(struct vault *v, const char *token)
{
	secure_free_str(v->token);
	v->token = token ? xstrdup(token) : NULL;
}

const char *vault_addr(const struct vault *v)
{
	return v->base;
}

void vault_reply_clear(struct vault_reply *r)
{
	jdoc_free(r->doc);
	if (r->body)
		secure_free(r->body, r->body_len);
	memset(r, 0, sizeof(*r));
}

const char *vault_error_message(const struct vault_reply *r)
{
	if (!r->doc)
		return NULL;
	const cJSON *errs = json_get(jdoc_root(r->doc), "errors");
	if (!cJSON_IsArray(errs))
		return NULL;
	const cJSON *first = cJSON_GetArrayItem(errs, 0);
	return cJSON_IsString(first) ? first->valuestring : NULL;
}

/* Bytes of a UTF-8 line break other than LF at c (NEL U+0085, LINE and
 * PARAGRAPH SEPARATOR U+2028/9), which some log readers split lines on;
 * 0 when there is none. */
static size_t unicode_break(const char *c, const char *end)
{
	const unsigned char *u = (const unsigned char *)c;
	if (end - c >= 2 && u[0] == 0xc2 && u[1] == 0x85)
		return 2;
	if (end - c >= 3 && u[0] == 0xe2 && u[1] == 0x80 && (u[2] == 0xa8 || u[2] == 0xa9))
		return 3;
	return 0;
}

void vault_clean_error(const char *in, struct strbuf *out)
{
	const char *p = in;
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	/* go-multierror's "N error(s) occurred:\n\t* a\n\t* b\n\n" becomes
	 * "a; b": the count and the bullets say nothing to the reader. */
	const char *q = p;
	while (*q >= '0' && *q <= '9')
		q++;
	if (q > p &&
	    (strncmp(q, " error occurred:", 16) == 0 || strncmp(q, " errors occurred:", 17) == 0))
		p = strchr(q, ':') + 1;
	bool sep = false, space = false;
	for (const char *line = p; *line;) {
		size_t n = strcspn(line, "\n");
		const char *e = line + n;
		while (line < e && (*line == ' ' || *line == '\t' || *line == '\r'))
			line++;
		if (line < e && *line == '*' &&
		    (line + 1 == e || line[1] == ' ' || line[1] == '\t'))
			line++;
		while (line < e && (*line == ' ' || *line == '\t'))
			line++;
		if (line < e) {
			if (sep)
				sb_adds(out, "; ");
			sep = true;
			space = false;
			for (const char *c = line; c < e; c++) {
				size_t ls = unicode_break(c, e);
				if (ls) {
					space = true;
					c += ls - 1;
					continue;
				}
				if (*c == ' ' || has_ctl(c, 1)) {
					space = true;
					continue;
				}
				if (space)
					sb_addc(out, ' ');
				space = false;
				sb_addc(out, *c);
			}
		}
		line = *e ? e + 1 : e;
	}
}

/* Whether msg holds 12 bytes in a row of s (all of it when shorter; s of
 * under 8 bytes is no credential): parsers quote their input cut short. */
static bool quotes(const char *msg, const char *s)
{
	size_t n = strlen(s), w = n < 12 ? n : 12;
	char win[13];
	for (size_t i = 0; n >= 8 && i + w <= n; i++) {
		/* strstr, not memmem: musl's memmem alone is 1.2 KB. */
		memcpy(win, s + i, w);
		win[w] = '\0';
		bool hit = strstr(msg, win) != NULL;
		mbedtls_platform_zeroize(win, sizeof(win));
		if (hit)
			return true;
	}
	return false;
}

/* Whether a message of the answer quotes a credential of the request: the
 * token, or a string of a login's JSON body (a secret ID, a JWT; "role"
 * and "name" are names).  Such an answer's messages are not shown. */
static bool quotes_credential(const struct vault_reply *r, const char *token, const char *body)
{
	static const char *const keys[] = {"errors", "warnings"};
	cJSON *req = body ? cJSON_Parse(body) : NULL;
	bool found = false;
	for (size_t k = 0; k < ARRAY_SIZE(keys) && r->doc; k++) {
		const cJSON *m;
		cJSON_ArrayForEach(m, json_get(jdoc_root(r->doc), keys[k]))
		{
			if (!cJSON_IsString(m))
				continue;
			found |= token && quotes(m->valuestring, token);
			const cJSON *it;
			cJSON_ArrayForEach(it, req)
			{
				if (cJSON_IsString(it) && strcmp(it->string, "role") != 0 &&
				    strcmp(it->string, "name") != 0 &&
				    quotes(m->valuestring, it->valuestring))
					found = true;
			}
		}
	}
	cJSON_Delete(req);
	return found;
}

/* All strings of the array KEY of the answer, cleaned, joined by "; ". */
static void joined(const struct vault_reply *r, const char *key, struct strbuf *out)
{
	const cJSON *arr = r->doc ? json_get(jdoc_root(r->doc), key) : NULL;
	const cJSON *it;
	bool first = true;
	if (r->quotes_credential && cJSON_GetArraySize(arr) > 0) {
		sb_adds(out, "(Vault's message quotes a credential; not shown)");
		return;
	}
	cJSON_ArrayForEach(it, arr)
	{
		if (!cJSON_IsString(it) || !*it->valuestring)
			continue;
		if (!first)
			sb_adds(out, "; ");
		first = false;
		vault_clean_error(it->valuestring, out);
	}
	if (!out->buf)
		sb_grow(out, 0);
}

void vault_error_text(const struct vault_reply *r, struct strbuf *out)
{
	joined(r, "errors", out);
}

void vault_warnings_text(const struct vault_reply *r, struct strbuf *out)
{
	joined(r, "warnings", out);
}

void vault_error_line(const struct vault_reply *r, char *buf, size_t n)
{
	struct strbuf sb = STRBUF_INIT;
	vault_error_text(r, &sb);
	snprintf(buf, n, "%s", sb.buf);
	sb_wipe(&sb);
}

/* Time left before the deadline, or the request timeout when there is
 * none; each request gets the smaller of the two. */
static uint64_t request_budget(const struct vault *v)
{
	if (!v->deadline)
		return v->request_timeout_ms;
	uint64_t now = now_ms();
	uint64_t left = v->deadline > now ? v->deadline - now : 0;
	if (left < 100)
		left = 100;
	return left < v->request_timeout_ms ? left : v->request_timeout_ms;
}

uint64_t vault_backoff_window_ms(unsigned attempt)
{
	uint64_t window = BACKOFF_BASE_MS;
	for (unsigned i = 0; i < attempt && window < BACKOFF_CAP_MS; i++)
		window *= 2;
	return window > BACKOFF_CAP_MS ? BACKOFF_CAP_MS : window;
}

uint64_t vault_jitter_ms(uint64_t *seed, unsigned attempt)
{
	/* xorshift64* step on a per-process random seed */
	*seed ^= *seed >> 12;
	*seed ^= *seed << 25;
	*seed ^= *seed >> 27;
	uint64_t r = *seed * 0x2545F4914F6CDD1DULL;
	return r % (vault_backoff_window_ms(attempt) + 1);
}

/* Sleeps before the next attempt.  Returns NULL after sleeping, or why
 * there is no next attempt (then the caller gives up with its last error). */
static const char *backoff(struct vault *v, unsigned attempt, long retry_after_s)
{
	if (!v->deadline)
		return v->retried_elsewhere ? "will retry" : "one attempt only (--wait 0)";
	uint64_t now = now_ms();
	if (now >= v->deadline)
		return "gave up at the --wait deadline";
	/* Retry-After is a floor, not a rendezvous: the jitter on top keeps
	 * clients told the same value from coming back in step, and a
	 * "Retry-After: 0" (which OpenBao sends near the end of a rate-limit
	 * interval) from becoming a busy loop. */
	uint64_t ms = vault_jitter_ms(&v->attempt_seed, attempt);
	if (retry_after_s >= 0) {
		uint64_t floor_ms = (uint64_t)retry_after_s * 1000;
		if (now + floor_ms > v->deadline) {
			snprintf(v->why, sizeof(v->why),
			         "the server asks to retry after %lds, past the --wait deadline",
			         retry_after_s);
			return v->why;
		}
		ms += floor_ms;
	}
	if (now + ms > v->deadline)
		ms = v->deadline - now;
	log_debug("retrying in %llu ms", (unsigned long long)ms);
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	return NULL;
}

/* Resolves a Location header against url; refuses https to http. */
int vault_redirect_target(const char *url, const char *loc, char **out, char *err, size_t errlen)
{
	CURLU *u = curl_url();
	char *nu = NULL, *scheme = NULL;
	int r = -1;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_URL, loc, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_URL, &nu, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK) {
		if (strncmp(url, "https://", 8) == 0 && strcmp(scheme, "https") != 0) {
			snprintf(err, errlen,
			         "redirect from https to %s refused (protocol downgrade)", scheme);
		} else {
			*out = xstrdup(nu);
			r = 0;
		}
	} else {
		snprintf(err, errlen, "redirect with an unusable Location header");
	}
	curl_free(nu);
	curl_free(scheme);
	curl_url_cleanup(u);
	return r;
}

enum redirect_outcome {
	REDIRECT_NONE,     /* not a redirect: the answer stands */
	REDIRECT_FOLLOWED, /* *url now points at the target; ask again */
	REDIRECT_REFUSED,  /* a second redirect or an unusable target (logged) */
};

/* A 301/302/307/308 with a Location: follows it once (same method, body
 * and headers, as the Go client), never from https to http. */
static enum redirect_outcome follow_redirect(const struct vault *v, char **url,
                                             const struct http_response *resp, bool *redirected,
                                             const char *display)
{
	long code = resp->code;
	if (!(code == 301 || code == 302 || code == 307 || code == 308) || !resp->location)
		return REDIRECT_NONE;
	if (*redirected) {
		log_error("%s: redirected again to %s; following at most one redirect", display,
		          resp->location);
		return REDIRECT_REFUSED;
	}
	char err[CURL_ERROR_SIZE + 64];
	char *next = NULL;
	if (vault_redirect_target(*url, resp->location, &next, err, sizeof(err)) < 0) {
		log_error("%s: %s", display, err);
		return REDIRECT_REFUSED;
	}
	log_debug("%s: following redirect to %s", display, next);
	free(*url);
	*url = next;
	*redirected = true;
	return REDIRECT_FOLLOWED;
}

static const char *status_word(enum http_status st)
{
	switch (st) {
	case HTTP_E_TIMEOUT:
		return "timed out";
	case HTTP_E_TLS_VERIFY:
		return "TLS verification failed";
	default:
		return "unreachable";
	}
}

/* What one answer (or transport failure) means for the exchange. */
enum verdict { V_DONE, V_RETRY, V_FAIL };
struct decision {
	enum verdict verdict;
	long retry_after_s; /* V_RETRY: the server's floor in seconds, -1 for none */
	int exit_code;      /* V_FAIL: logged already */
	bool unsure;        /* V_DONE: an answer that does not show Vault serving */
};

/* One exchange with the server: the request, and the policy that judges
 * each answer.  The loop in exchange() does what every exchange shares:
 * TLS failures, one redirect, backoff until the deadline. */
struct exchange {
	const char *method;
	const char *display; /* for messages: the API path */
	const char *const *headers;
	const char *body;
	/* Judges an answer (st == HTTP_OK) or a transport failure (err says
	 * what); may rewrite err for the give-up message. */
	struct decision (*decide)(struct exchange *x, enum http_status st,
	                          struct http_response *resp, char *err, size_t errlen);
	/* Logs why the exchange ends without an answer after the last retry. */
	void (*give_up)(struct exchange *x, enum http_status st, const char *err, const char *why);
	struct vault *v;
	void *ctx;
	bool probe; /* stands in for sys/health: see exchange */
};

static int exchange(struct exchange *x, char **url, struct http_response *resp)
{
	struct vault *v = x->v;
	char err[CURL_ERROR_SIZE + 64] = "";
	bool redirected = false;
	for (unsigned attempt = 0;; attempt++) {
		enum http_status st = http_request(v->http, x->method, *url, x->headers, x->body,
		                                   request_budget(v), resp, err, sizeof(err));
		if (st == HTTP_E_ABANDONED) /* the caller is stopping: no retry, no message */
			return EXIT_UNAVAILABLE;
		if (st == HTTP_E_TLS_VERIFY || st == HTTP_E_TLS_CONFIG) {
			log_error("%s: %s: %s (CA: %s)", v->base, status_word(HTTP_E_TLS_VERIFY),
			          err, v->ca_used ? v->ca_used : "none");
			return EXIT_CONFIG;
		}
		if (st == HTTP_OK) {
			enum redirect_outcome ro =
			    follow_redirect(v, url, resp, &redirected, x->display);
			if (ro == REDIRECT_REFUSED)
				return EXIT_UNAVAILABLE;
			if (ro == REDIRECT_FOLLOWED) {
				attempt--; /* a redirect is no failed attempt */
				continue;
			}
		}
		struct decision d = x->decide(x, st, resp, err, sizeof(err));
		/* The first request stands in for sys/health: an answer from
		 * Vault shows the node serves and saves that round trip on every
		 * start.  Anything else (unreachable, sealed, a 5xx, an answer
		 * that is not Vault's) waits on sys/health, which tells those
		 * apart, then asks again: at once, or after the Retry-After. */
		if (x->probe) {
			x->probe = false;
			if (d.verdict == V_RETRY || (d.verdict == V_DONE && d.unsure)) {
				int r = vault_wait_ready(v);
				if (r)
					return r;
				if (d.verdict == V_DONE || d.retry_after_s < 0) {
					attempt--; /* the wait stood in for the backoff */
					continue;
				}
			}
		}
		if (d.verdict != V_RETRY)
			return d.verdict == V_DONE ? 0 : d.exit_code;
		const char *why = backoff(v, attempt, d.retry_after_s);
		if (why) {
			x->give_up(x, st, err, why);
			return EXIT_UNAVAILABLE;
		}
	}
}

static const struct decision done = {V_DONE, -1, 0, false};

static struct decision fail(int code)
{
	return (struct decision){V_FAIL, -1, code, false};
}

static struct decision retry(long retry_after_s)
{
	return (struct decision){V_RETRY, retry_after_s, 0, false};
}

/* Which answers to a request are worth asking again. */
bool vault_retryable_code(long code)
{
	return code == 412 || code == 429 || (code >= 500 && code != 501);
}

static const char *const upgrade_msg = "Upgrading from non-versioned to versioned data";

struct request_ctx {
	struct vault_reply *reply;
	int flags;
};

static struct decision decide_request(struct exchange *x, enum http_status st,
                                      struct http_response *resp, char *err, size_t errlen)
{
	struct request_ctx *rc = x->ctx;
	struct vault_reply *reply = rc->reply;
	if (st == HTTP_E_TOO_LARGE || st == HTTP_E_OTHER) {
		log_error("%s: %s", x->display, err);
		return fail(st == HTTP_E_TOO_LARGE ? EXIT_DATA : EXIT_UNAVAILABLE);
	}
	if (st != HTTP_OK) {
		log_debug("%s: %s", x->display, err);
		return retry(-1);
	}
	vault_reply_clear(reply); /* the previous attempt's */
	reply->code = resp->code;
	reply->body_len = resp->body.len;
	reply->body = sb_steal(&resp->body);
	if (reply->body_len)
		jdoc_parse(reply->body, reply->body_len, &reply->doc);
	/* A request without a token is a login: its body is the credential.
	 * Elsewhere the body is the user's own parameters (a pki common
	 * name), worth showing when Vault quotes them back. */
	bool login = rc->flags & VREQ_NO_TOKEN;
	reply->quotes_credential =
	    quotes_credential(reply, login ? NULL : x->v->token, login ? x->body : NULL);
	bool again = vault_retryable_code(reply->code);
	if (reply->code == 400 && (rc->flags & VREQ_KV_UPGRADE)) {
		const char *m = vault_error_message(reply);
		again = m && strstr(m, upgrade_msg);
	}
	if (!again) {
		/* Vault answers with a JSON object ({"errors": [...]}, a KV
		 * envelope); an HTML 404 page or Go's "HTTP request to an HTTPS
		 * server" shows another server, or the wrong scheme. */
		struct decision d = done;
		d.unsure = (reply->code < 200 || reply->code > 299) &&
		           !cJSON_IsObject(jdoc_root(reply->doc));
		return d;
	}
	struct strbuf m = STRBUF_INIT;
	vault_error_text(reply, &m);
	snprintf(err, errlen, "HTTP %ld%s%s", reply->code, *m.buf ? ": " : "", m.buf);
	sb_wipe(&m);
	log_debug("%s: %s", x->display, err);
	vault_reply_clear(reply);
	return retry(resp->retry_after_s);
}

static void give_up_request(struct exchange *x, enum http_status st, const char *err,
                            const char *why)
{
	if (st == HTTP_OK)
		log_error("%s: %s; %s", x->display, err, why);
	else
		log_error("%s/v1/%s: %s: %s; %s", x->v->base, x->display, status_word(st), err,
		          why);
}

int vault_request(struct vault *v, const char *method, const char *api_path, const char *query,
                  const char *body, int flags, struct vault_reply *reply)
{
	_cleanup_free_ char *url =
	    xasprintf("%s/v1/%s%s%s", v->base, api_path, query ? "?" : "", query ? query : "");
	_cleanup_secret_ char *tokhdr = NULL;
	_cleanup_free_ char *nshdr = NULL;
	const char *headers[4];
	size_t nh = 0;
	headers[nh++] = "X-Vault-Request: true";
	if (v->token && !(flags & VREQ_NO_TOKEN))
		headers[nh++] = tokhdr = xasprintf("X-Vault-Token: %s", v->token);
	if (v->namespace_)
		headers[nh++] = nshdr = xasprintf("X-Vault-Namespace: %s", v->namespace_);
	headers[nh] = NULL;

	memset(reply, 0, sizeof(*reply));
	/* Messages name the namespace: the same path means another secret there. */
	_cleanup_free_ char *display_ns =
	    v->namespace_ ? xasprintf("%s (namespace %s)", api_path, v->namespace_) : NULL;
	struct request_ctx rc = {reply, flags};
	bool probe = v->unchecked;
	v->unchecked = false;
	struct exchange x = {method,
	                     display_ns ? display_ns : api_path,
	                     headers,
	                     body,
	                     decide_request,
	                     give_up_request,
	                     v,
	                     &rc,
	                     probe};
	struct http_response resp = {0, STRBUF_INIT, NULL, -1};
	int r = exchange(&x, &url, &resp);
	http_response_clear(&resp);
	if (r)
		vault_reply_clear(reply);
	return r;
}

static const char *const health_words[] = {
    "",
    "unreachable",
    "not initialized",
    "sealed",
    "not usable (DR secondary or removed node)",
    "answering with server errors",
    "ready",
};

/* Health codes (doc/vault-api.md, "Health"): 200, 429 and 473 can serve;
 * 501 uninitialised and 503 sealed are waited out like 5xx; 472 and 530
 * may be a load balancer's passing choice, so they are waited out too. */
enum vault_health vault_health_of(long code)
{
	switch (code) {
	case 200:
	case 429:
	case 473:
		return VH_READY;
	case 501:
		return VH_UNINITIALIZED;
	case 503:
		return VH_SEALED;
	case 472:
	case 530:
		return VH_UNUSABLE;
	default:
		return code >= 500 || code == 412 || code == 474 ? VH_ERROR : VH_NONE;
	}
}

struct health_ctx {
	enum vault_health last;
	uint64_t started;
};

/* Logs a change of state: once per state, not once per attempt. */
static void health_changed(const struct vault *v, struct health_ctx *hc, enum vault_health hs,
                           const char *err)
{
	if (hs == hc->last)
		return;
	if (hs == VH_READY && hc->last == VH_NONE)
		log_debug("%s is ready", v->base);
	else if (hs == VH_READY)
		log_info("%s is ready after %.1fs", v->base,
		         (double)(now_ms() - hc->started) / 1000.0);
	else
		log_info("%s is %s (%s); waiting", v->base, health_words[hs], err);
	hc->last = hs;
}

static struct decision decide_health(struct exchange *x, enum http_status st,
                                     struct http_response *resp, char *err, size_t errlen)
{
	struct health_ctx *hc = x->ctx;
	enum vault_health hs = VH_UNREACHABLE;
	if (st == HTTP_E_TOO_LARGE || st == HTTP_E_OTHER) {
		log_error("%s: sys/health: %s", x->v->base, err);
		return fail(EXIT_UNAVAILABLE);
	}
	if (st == HTTP_OK) {
		hs = vault_health_of(resp->code);
		if (resp->code == 400 && !x->v->https && resp->body.buf &&
		    strstr(resp->body.buf, "HTTP request to an HTTPS server")) {
			log_error(
			    "%s: the server speaks TLS (it answered \"Client sent an HTTP "
			    "request to an HTTPS server\"): use https:// in --addr / VAULT_ADDR",
			    x->v->base);
			return fail(EXIT_CONFIG);
		}
		if (hs == VH_NONE) {
			log_error(
			    "%s: sys/health answered HTTP %ld; not retried (is this the address "
			    "of Vault's API?)",
			    x->v->base, resp->code);
			return fail(resp->code == 403 ? EXIT_NOPERM : EXIT_UNAVAILABLE);
		}
		snprintf(err, errlen, "HTTP %ld", resp->code);
	}
	health_changed(x->v, hc, hs, err);
	if (hs == VH_READY)
		return done;
	return retry(st == HTTP_OK ? resp->retry_after_s : -1);
}

static void give_up_health(struct exchange *x, enum http_status st, const char *err,
                           const char *why)
{
	const struct health_ctx *hc = x->ctx;
	log_error("%s is still %s (%s); %s%s", x->v->base, health_words[hc->last], err, why,
	          x->v->addr_default ? "; no address was given and this is the default: set "
	                               "--addr or VAULT_ADDR"
	                             : "");
}

int vault_wait_ready(struct vault *v)
{
	static const char *const hdrs[] = {"X-Vault-Request: true", NULL};
	_cleanup_free_ char *url =
	    xasprintf("%s/v1/sys/health?standbyok=true&perfstandbyok=true", v->base);
	struct health_ctx hc = {VH_NONE, now_ms()};
	struct exchange x = {"GET", "sys/health", hdrs, NULL, decide_health, give_up_health,
	                     v,     &hc,          false};
	struct http_response resp = {0, STRBUF_INIT, NULL, -1};
	int r = exchange(&x, &url, &resp);
	http_response_clear(&resp);
	return r;
}

int vault_ensure_ready(struct vault *v)
{
	if (!v->unchecked)
		return 0;
	v->unchecked = false;
	return vault_wait_ready(v);
}

const char *vault_namespace(const struct vault *v)
{
	return v->namespace_;
}

/* Where to look when the token is not valid: its source, or the login. */
static void token_advice(const struct vault *v, char *buf, size_t n)
{
	if (v->token_origin)
		snprintf(buf, n, "check the token in %s", v->token_origin);
	else if (strcmp(v->auth_method, "token") == 0)
		snprintf(buf, n, "check VAULT_TOKEN / --token-file or the login options");
	else
		snprintf(buf, n, "the token from the %s login was revoked or has expired",
		         v->auth_method);
}

int vault_token_check(struct vault *v)
{
	struct vault_reply self;
	int r = vault_request(v, "GET", "auth/token/lookup-self", NULL, NULL, 0, &self);
	if (r)
		return -1;
	long code = self.code;
	vault_reply_clear(&self);
	return code == 200 ? 1 : code == 403 || code == 401 ? 0 : -1;
}

int vault_token_invalid_error(struct vault *v, const char *what)
{
	char advice[160];
	token_advice(v, advice, sizeof(advice));
	log_error("%s: permission denied: the token is not valid (wrong, expired or revoked; "
	          "auth/token/lookup-self is refused too): %s",
	          what, advice);
	return EXIT_NOPERM;
}

int vault_explain_denied(struct vault *v, const char *what, const char *api_path,
                         const char *capability, const struct vault_reply *rep, const char *hint)
{
	struct strbuf msg = STRBUF_INIT;
	vault_error_text(rep, &msg);
	/* Vault says "permission denied" both for a token it does not know and
	 * for one whose policies lack the capability; one lookup of the token
	 * itself (allowed by the default policy) tells them apart. */
	struct vault_reply self;
	int r = vault_request(v, "GET", "auth/token/lookup-self", NULL, NULL, 0, &self);
	const char *ns = v->namespace_;
	/* Vault's own text adds nothing when it only repeats the verdict. */
	if (strcmp(msg.buf, "permission denied") == 0)
		sb_reset(&msg);
	if (r) {
		log_error("%s: permission denied (HTTP %ld%s%s)", what, rep->code,
		          msg.len ? ": " : "", msg.len ? msg.buf : "");
	} else if (self.code == 200) {
		const cJSON *pol = json_get(json_get(jdoc_root(self.doc), "data"), "policies");
		struct strbuf names = STRBUF_INIT;
		const cJSON *it;
		cJSON_ArrayForEach(it, pol)
		{
			if (cJSON_IsString(it))
				sb_addf(&names, "%s%s", names.len ? ", " : "", it->valuestring);
		}
		log_error(
		    "%s: permission denied (HTTP %ld%s%s): the token is valid but its policies "
		    "(%s) do not grant '%s' on %s%s%s; add path \"%s\" { capabilities = "
		    "[\"%s\"] } to one of them%s%s%s%s",
		    what, rep->code, msg.len ? ": " : "", msg.len ? msg.buf : "",
		    names.len ? names.buf : "none", capability, api_path,
		    ns ? " in namespace " : "", ns ? ns : "", api_path, capability,
		    ns ? " in namespace " : "", ns ? ns : "", hint ? "; " : "", hint ? hint : "");
		sb_wipe(&names);
	} else {
		char advice[160];
		token_advice(v, advice, sizeof(advice));
		log_error("%s: permission denied (HTTP %ld%s%s): the token is not valid (wrong, "
		          "expired or revoked; auth/token/lookup-self is refused too): %s",
		          what, rep->code, msg.len ? ": " : "", msg.len ? msg.buf : "", advice);
	}
	if (r == 0)
		vault_reply_clear(&self);
	sb_wipe(&msg);
	return EXIT_NOPERM;
}

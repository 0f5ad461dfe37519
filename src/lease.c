#include "lease.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <mbedtls/x509_crt.h>

#include "jsonval.h"
#include "log.h"
#include "strbuf.h"

struct lease *lease_take(struct lease_set *ls, const struct vault_reply *rep, const char *path,
                         const char *method, const char *api_path, const char *body)
{
	const cJSON *root = jdoc_root(rep->doc);
	const char *id = json_get_string(root, "lease_id");
	if (!id || !*id)
		return NULL;
	const cJSON *d = json_get(root, "lease_duration");
	uint64_t dur = 0;
	/* In range before the cast: a huge double would be UB. */
	if (cJSON_IsNumber(d) && d->valuedouble > 0 && d->valuedouble < 1e15)
		dur = (uint64_t)d->valuedouble;
	ARRAY_GROW(ls->v, ls->n);
	struct lease *l = &ls->v[ls->n++];
	*l = (struct lease){
	    .path = xstrdup(path),
	    .lease_id = xstrdup(id),
	    .duration_s = dur,
	    .renewable = cJSON_IsTrue(json_get(root, "renewable")),
	    .method = xstrdup(method),
	    .api_path = xstrdup(api_path),
	    .body = body ? xstrdup(body) : NULL,
	    .taken_ms = now_ms(),
	    .taken_at = time(NULL),
	};
	if (dur == 0)
		log_warn("%s: the lease has a duration of 0s; its values may stop working at any "
		         "moment",
		         path);
	return l;
}

struct lease *lease_take_expiry(struct lease_set *ls, time_t end, const char *path,
                                const char *method, const char *api_path, const char *body)
{
	time_t now = time(NULL);
	if (end <= now) {
		log_warn("%s: the answer's values have expired already (their end is in the "
		         "past); is the clock right?",
		         path);
		return NULL;
	}
	ARRAY_GROW(ls->v, ls->n);
	struct lease *l = &ls->v[ls->n++];
	*l = (struct lease){
	    .path = xstrdup(path),
	    .duration_s = (uint64_t)(end - now),
	    .method = xstrdup(method),
	    .api_path = xstrdup(api_path),
	    .body = body ? xstrdup(body) : NULL,
	    .taken_ms = now_ms(),
	    .taken_at = now,
	};
	return l;
}

/* The notAfter of the first certificate of a PEM text, as Unix time. */
static bool pem_not_after(const char *pem, time_t *end)
{
	mbedtls_x509_crt crt;
	mbedtls_x509_crt_init(&crt);
	/* PEM input is parsed with its terminating NUL counted. */
	bool ok = mbedtls_x509_crt_parse(&crt, (const unsigned char *)pem, strlen(pem) + 1) >= 0 &&
	          crt.version != 0;
	if (ok) {
		const mbedtls_x509_time *t = &crt.valid_to;
		struct tm tm = {.tm_year = t->year - 1900,
		                .tm_mon = t->mon - 1,
		                .tm_mday = t->day,
		                .tm_hour = t->hour,
		                .tm_min = t->min,
		                .tm_sec = t->sec};
		*end = timegm(&tm);
		ok = *end != (time_t)-1;
	}
	mbedtls_x509_crt_free(&crt);
	return ok;
}

bool lease_expiry_of(const cJSON *data, time_t *end)
{
	const cJSON *e = json_get(data, "expiration");
	if (cJSON_IsNumber(e) && e->valuedouble > 0 && e->valuedouble < 1e12) {
		*end = (time_t)e->valuedouble;
		return true;
	}
	static const char pem[] = "-----BEGIN CERTIFICATE-----";
	bool found = false;
	const cJSON *f;
	cJSON_ArrayForEach(f, data)
	{
		time_t t;
		if (cJSON_IsString(f) && strncmp(f->valuestring, pem, sizeof(pem) - 1) == 0 &&
		    pem_not_after(f->valuestring, &t) && (!found || t < *end)) {
			*end = t;
			found = true;
		}
	}
	return found;
}

void lease_format_duration(uint64_t s, struct strbuf *out)
{
	if (s == 0) {
		sb_adds(out, "0s");
		return;
	}
	uint64_t d = s / 86400, h = s % 86400 / 3600, m = s % 3600 / 60, sec = s % 60;
	/* Days only past two of them: "48h" reads better than "2d". */
	if (d >= 2) {
		sb_addf(out, "%llud", (unsigned long long)d);
	} else {
		h += d * 24;
	}
	if (h)
		sb_addf(out, "%lluh", (unsigned long long)h);
	if (m)
		sb_addf(out, "%llum", (unsigned long long)m);
	if (sec)
		sb_addf(out, "%llus", (unsigned long long)sec);
}

int lease_revoke(struct vault *v, struct lease *l)
{
	if (!l->lease_id)
		l->revoked = true;
	if (l->revoked)
		return 0;
	cJSON *body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "lease_id", l->lease_id);
	char *text = cJSON_PrintUnformatted(body);
	cJSON_Delete(body);
	if (!text)
		die(EXIT_SOFTWARE, "out of memory");
	struct vault_reply rep;
	int r = vault_request(v, "PUT", "sys/leases/revoke", NULL, text, 0, &rep);
	secure_free_str(text);
	struct strbuf dur = STRBUF_INIT;
	lease_format_duration(l->duration_s, &dur);
	if (r) {
		log_warn(
		    "%s: the lease could not be revoked (Vault unreachable); it ends by itself "
		    "after %s",
		    l->path, dur.buf);
	} else if (rep.code == 200 || rep.code == 204) {
		l->revoked = true;
		log_info("%s: revoked the lease", l->path);
	} else {
		char msg[300];
		vault_error_line(&rep, msg, sizeof(msg));
		/* Vault's message may quote the lease ID: then say less. */
		if (strstr(msg, l->lease_id))
			msg[0] = '\0';
		log_warn("%s: the lease could not be revoked (sys/leases/revoke answered HTTP "
		         "%ld%s%s%s); it ends by itself after %s",
		         l->path, rep.code, *msg ? ": " : "", msg,
		         rep.code == 403 ? "; the token needs update on sys/leases/revoke" : "",
		         dur.buf);
	}
	sb_wipe(&dur);
	vault_reply_clear(&rep);
	return l->revoked ? 0 : r ? EXIT_UNAVAILABLE : 1;
}

size_t lease_revoke_all(struct vault *v, struct lease_set *ls, const char *why)
{
	size_t todo = lease_count(ls), left = 0;
	if (!todo || !v)
		return todo;
	log_info("revoking %zu lease%s: %s", todo, todo == 1 ? "" : "s", why);
	for (size_t i = 0; i < ls->n; i++)
		left += lease_revoke(v, &ls->v[i]) != 0;
	return left;
}

size_t lease_count(const struct lease_set *ls)
{
	size_t n = 0;
	for (size_t i = 0; i < ls->n; i++)
		n += ls->v[i].lease_id && !ls->v[i].revoked;
	return n;
}

const struct lease *lease_shortest(const struct lease_set *ls)
{
	const struct lease *best = NULL;
	for (size_t i = 0; i < ls->n; i++)
		if (ls->v[i].lease_id && !ls->v[i].revoked &&
		    (!best || ls->v[i].duration_s < best->duration_s))
			best = &ls->v[i];
	return best;
}

void lease_describe(const struct lease_set *ls, bool expiry, time_t token_end, struct strbuf *out)
{
	const struct lease *l = lease_shortest(ls);
	if (!l)
		return;
	size_t n = lease_count(ls);
	sb_addf(out, "%zu lease%s (%s%s, ", n, n == 1 ? "" : "s", n == 1 ? "" : "shortest ",
	        l->path);
	lease_format_duration(l->duration_s, out);
	sb_adds(out, l->renewable ? ", renewable" : ", not renewable");
	if (expiry) {
		time_t end = l->taken_at + (time_t)l->duration_s;
		bool with_token = token_end && token_end < end;
		if (with_token)
			end = token_end;
		struct tm tm;
		char when[32] = "?";
		if (gmtime_r(&end, &tm))
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
		sb_addf(out, "; expires %s%s, nothing renews it", when,
		        with_token ? " with the token" : "");
	}
	sb_addc(out, ')');
}

static void lease_clear(struct lease *l)
{
	free(l->path);
	secure_free_str(l->lease_id);
	free(l->method);
	free(l->api_path);
	secure_free_str(l->body);
}

void lease_set_clear(struct lease_set *ls)
{
	for (size_t i = 0; i < ls->n; i++)
		lease_clear(&ls->v[i]);
	free(ls->v);
	memset(ls, 0, sizeof(*ls));
}

void lease_set_drop_revoked(struct lease_set *ls)
{
	size_t k = 0;
	for (size_t i = 0; i < ls->n; i++) {
		if (ls->v[i].revoked)
			lease_clear(&ls->v[i]);
		else
			ls->v[k++] = ls->v[i];
	}
	ls->n = k;
}

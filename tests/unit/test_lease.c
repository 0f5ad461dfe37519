#include <string.h>

#include "jsonval.h"
#include "lease.h"
#include "log.h"
#include "tap.h"

static const char *dur(uint64_t s)
{
	static struct strbuf sb = STRBUF_INIT;
	sb_wipe(&sb);
	lease_format_duration(s, &sb);
	return sb.buf;
}

/* A reply as vault_request would give it. */
static struct vault_reply reply(const char *json)
{
	struct vault_reply r = {200, NULL, xstrdup(json), strlen(json), false};
	if (jdoc_parse(r.body, r.body_len, &r.doc) < 0)
		r.doc = NULL;
	return r;
}

static time_t token_end;

static const char *describe(const struct lease_set *ls, bool expiry)
{
	static struct strbuf sb = STRBUF_INIT;
	sb_wipe(&sb);
	lease_describe(ls, expiry, token_end, &sb);
	return sb.buf ? sb.buf : "";
}

int main(void)
{
	log_setup(LOG_ERROR, LOG_TEXT); /* the zero-duration warning is not under test here */
	is_str(dur(0), "0s", "zero");
	is_str(dur(59), "59s", "seconds");
	is_str(dur(3600), "1h", "an hour");
	is_str(dur(7199), "1h59m59s", "just under two hours");
	is_str(dur(86400), "24h", "a day in hours");
	is_str(dur(2 * 86400 + 90), "2d1m30s", "days past two");
	is_str(dur(2764800), "32d", "768h");

	struct lease_set ls = {0};
	struct vault_reply r = reply("{\"lease_id\":\"\",\"lease_duration\":2764800,\"data\":{}}");
	ok(lease_take(&ls, &r, "kv/app", "GET", "kv/app", NULL) == NULL,
	   "KV v1's advisory duration without a lease_id is no lease");
	vault_reply_clear(&r);
	is_str(describe(&ls, true), "", "nothing to describe");
	ok(lease_shortest(&ls) == NULL, "no shortest");

	r = reply("{\"lease_id\":\"database/creds/ro/abc\",\"lease_duration\":3600,"
	          "\"renewable\":true,\"data\":{}}");
	struct lease *l =
	    lease_take(&ls, &r, "database/creds/ro", "GET", "database/creds/ro", NULL);
	vault_reply_clear(&r);
	ok(l != NULL, "a lease");
	is_str(l->lease_id, "database/creds/ro/abc", "its id");
	ok(l->duration_s == 3600 && l->renewable && l->body == NULL,
	   "duration, renewable, no body");
	is_str(describe(&ls, false), "1 lease (database/creds/ro, 1h, renewable)", "one lease");
	l->taken_at = 0;
	is_str(
	    describe(&ls, true),
	    "1 lease (database/creds/ro, 1h, renewable; expires 1970-01-01 01:00:00 UTC, nothing "
	    "renews it)",
	    "with its expiry");

	r = reply("{\"lease_id\":\"pki/issue/web/x\",\"lease_duration\":60,\"renewable\":false}");
	l = lease_take(&ls, &r, "pki/issue/web", "POST", "pki/issue/web",
	               "{\"common_name\":\"a\"}");
	vault_reply_clear(&r);
	is_str(l->body, "{\"common_name\":\"a\"}", "the write's body is kept to fetch again");
	is_str(describe(&ls, false), "2 leases (shortest pki/issue/web, 1m, not renewable)",
	       "the shortest of two");

	r = reply("{\"lease_id\":\"x/y\",\"lease_duration\":1e300}");
	l = lease_take(&ls, &r, "x", "GET", "x", NULL);
	vault_reply_clear(&r);
	ok(l && l->duration_s == 0, "an absurd duration is not cast (0)");

	r = reply("{\"lease_id\":\"x/z\",\"lease_duration\":-5}");
	l = lease_take(&ls, &r, "x", "GET", "x", NULL);
	vault_reply_clear(&r);
	ok(l && l->duration_s == 0, "a negative duration is 0");
	is_int(ls.n, 4, "four leases");

	/* A lease ends with its token: the earlier end is said. */
	lease_set_clear(&ls);
	r = reply("{\"lease_id\":\"database/creds/ro/abc\",\"lease_duration\":3600}");
	l = lease_take(&ls, &r, "database/creds/ro", "GET", "database/creds/ro", NULL);
	vault_reply_clear(&r);
	l->taken_at = 0;
	token_end = 60;
	is_str(describe(&ls, true),
	       "1 lease (database/creds/ro, 1h, not renewable; expires 1970-01-01 00:01:00 UTC "
	       "with the token, nothing renews it)",
	       "the token ends first");
	token_end = 7200;
	is_str(describe(&ls, true),
	       "1 lease (database/creds/ro, 1h, not renewable; expires 1970-01-01 01:00:00 UTC, "
	       "nothing renews it)",
	       "the lease ends first");
	token_end = 0;

	/* Expiries of answers without a lease. */
	time_t end = 0;
	r = reply("{\"data\":{\"expiration\":2000000000,\"certificate\":\"x\"}}");
	ok(lease_expiry_of(json_get(jdoc_root(r.doc), "data"), &end) && end == 2000000000,
	   "PKI's expiration");
	vault_reply_clear(&r);
	/* notAfter=Dec  4 17:01:08 2036 GMT (openssl x509 -enddate) */
	static const char cert[] =
	    "-----BEGIN CERTIFICATE-----\\n"
	    "MIIBETCBuQIUOfa2rQH3YEItKM0LybY5HVqADTQwCgYIKoZIzj0EAwIwDDEKMAgG\\n"
	    "A1UEAwwBdDAeFw0yNjEyMDcxNzAxMDhaFw0zNjEyMDQxNzAxMDhaMAwxCjAIBgNV\\n"
	    "BAMMAXQwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAARt3YMxYzlCXWoNUyn5J8Lo\\n"
	    "+rvmL0fs3da4vDQkf8QbwypjLaWzTOSwioHEX9X13k8GcP2dIxKEXgEiiaRmbiLB\\n"
	    "MAoGCCqGSM49BAMCA0cAMEQCICYR+EWSqfR50QyxwjMTPM20O5I/HOa+sUZJuAQs\\n"
	    "546hAiB4ApsfQmfBlhEu8e0r32waU1Y/mFmgYLYr8udN+QAoTA==\\n"
	    "-----END CERTIFICATE-----\\n";
	struct strbuf js = STRBUF_INIT;
	sb_addf(&js, "{\"data\":{\"key\":\"-----BEGIN PRIVATE KEY-----\",\"crt\":\"%s\"}}", cert);
	r = reply(js.buf);
	end = 0;
	ok(lease_expiry_of(json_get(jdoc_root(r.doc), "data"), &end) && end == 2112022868,
	   "a PEM certificate's notAfter");
	vault_reply_clear(&r);
	sb_wipe(&js);
	r = reply("{\"data\":{\"crt\":\"-----BEGIN CERTIFICATE-----\\nAAAA\\n\",\"n\":5}}");
	ok(!lease_expiry_of(json_get(jdoc_root(r.doc), "data"), &end),
	   "no expiry: a broken certificate, no expiration");
	vault_reply_clear(&r);

	l = lease_take_expiry(&ls, time(NULL) + 30, "pki/issue/web", "POST", "pki/issue/web", "{}");
	ok(l && !l->lease_id && l->duration_s >= 29 && l->duration_s <= 30,
	   "an expiry without a lease");
	ok(lease_take_expiry(&ls, time(NULL) - 1, "p", "POST", "p", "{}") == NULL,
	   "a past expiry is refused");
	is_int(lease_count(&ls), 1, "only real leases are counted");
	is_str(lease_shortest(&ls)->path, "database/creds/ro", "the shortest is a real lease");
	ok(l && lease_revoke(NULL, l) == 0 && l->revoked, "nothing to revoke without a lease ID");

	lease_set_clear(&ls);
	ok(ls.n == 0 && ls.v == NULL, "cleared");
	return tap_done();
}

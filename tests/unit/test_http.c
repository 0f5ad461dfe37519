/* The pure parts of http.c: Retry-After parsing, how libcurl's results
 * count (retried, fatal, TLS), the plain-HTTP-answer detection, and the
 * percent-encoding of API paths (strbuf) that http callers rely on. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "http.h"
#include "strbuf.h"
#include "tap.h"

static long ra(const char *s)
{
	return http_parse_retry_after(s, strlen(s));
}

static void test_retry_after(void)
{
	is_int(ra("0"), 0, "0 seconds");
	is_int(ra("120"), 120, "seconds");
	is_int(ra("86400"), 86400, "one day is the most");
	is_int(ra("-1"), -1, "negative refused");
	is_int(ra("soon"), -1, "junk refused");
	is_int(ra(""), -1, "empty refused");
	is_int(ra("Wed, 21 Oct 2015 07:28:00 GMT"), 0, "a date in the past means now");
	char date[64];
	time_t later = time(NULL) + 90;
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", gmtime(&later));
	long s = ra(date);
	ok(s >= 85 && s <= 90, "a date 90 s ahead: %ld", s);
	char big[100];
	memset(big, '1', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	is_int(ra(big), -1, "an over-long value refused");
}

static void test_classify(void)
{
	is_int(http_classify(CURLE_OK, false), HTTP_OK, "OK");
	static const int retried[] = {CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_CONNECT,
	                              CURLE_RECV_ERROR,           CURLE_SEND_ERROR,
	                              CURLE_GOT_NOTHING,          CURLE_PARTIAL_FILE,
	                              CURLE_SSL_CONNECT_ERROR,    CURLE_WEIRD_SERVER_REPLY};
	for (size_t i = 0; i < sizeof(retried) / sizeof(retried[0]); i++)
		is_int(http_classify(retried[i], false), HTTP_E_CONNECT,
		       "curl %d: transport, retried", retried[i]);
	is_int(http_classify(CURLE_OPERATION_TIMEDOUT, false), HTTP_E_TIMEOUT, "timeout");
	is_int(http_classify(CURLE_PEER_FAILED_VERIFICATION, false), HTTP_E_TLS_VERIFY,
	       "certificate refused: not retried");
	is_int(http_classify(CURLE_SSL_CACERT_BADFILE, false), HTTP_E_TLS_CONFIG, "bad CA file");
	is_int(http_classify(CURLE_SSL_CERTPROBLEM, false), HTTP_E_TLS_CONFIG,
	       "bad client certificate");
	is_int(http_classify(CURLE_WRITE_ERROR, true), HTTP_E_TOO_LARGE, "our body cap");
	is_int(http_classify(CURLE_WRITE_ERROR, false), HTTP_E_OTHER, "other write error");
	is_int(http_classify(CURLE_FILESIZE_EXCEEDED, false), HTTP_E_TOO_LARGE,
	       "Content-Length over the cap");
	is_int(http_classify(CURLE_UNSUPPORTED_PROTOCOL, false), HTTP_E_OTHER, "anything else");
}

static void test_plaintext(void)
{
	ok(http_plaintext_reply("error:0A00010B:SSL routines::wrong version number"),
	   "OpenSSL wording");
	ok(http_plaintext_reply("mbedTLS: (-0x7200) SSL - An invalid SSL record was received"),
	   "mbedtls wording");
	ok(!http_plaintext_reply("Connection reset by peer"), "a reset is no plain-HTTP answer");
	ok(!http_plaintext_reply(""), "empty");
}

static void test_escapes(void)
{
	struct strbuf sb = STRBUF_INIT;
	sb_add_pct(&sb, "a b/c?d#e%f~g-h.i_j\xc3\xa9", strlen("a b/c?d#e%f~g-h.i_j\xc3\xa9"));
	is_str(sb.buf, "a%20b%2Fc%3Fd%23e%25f~g-h.i_j%C3%A9", "percent-encoding keeps unreserved");
	sb_wipe(&sb);
	sb_add_path(&sb, "secret/data/my app/x#y");
	is_str(sb.buf, "secret/data/my%20app/x%23y", "a path: each segment encoded, slashes kept");
	sb_wipe(&sb);
	sb_add_json(&sb, "q\"b\\n\n\t\x01\x7f\xc3\xa9", 11);
	is_str(sb.buf, "q\\\"b\\\\n\\n\\t\\u0001\\u007f\xc3\xa9", "JSON escapes");
	sb_wipe(&sb);
}

int main(void)
{
	test_retry_after();
	test_classify();
	test_plaintext();
	test_escapes();
	return tap_done();
}

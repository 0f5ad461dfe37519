#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "tap.h"
#include "strbuf.h"
#include "util.h"
#include "vault.h"

static void test_parse_u64(void)
{
	uint64_t v = 0;
	int rc = parse_u64("0", 0, 10, &v);
	ok(rc == 0 && v == 0, "0 in [0,10]");
	rc = parse_u64("10", 0, 10, &v);
	ok(rc == 0 && v == 10, "upper bound inclusive");
	rc = parse_u64("5", 5, 10, &v);
	ok(rc == 0 && v == 5, "lower bound inclusive");
	rc = parse_u64("007", 0, 10, &v);
	ok(rc == 0 && v == 7, "leading zeros");
	rc = parse_u64("18446744073709551615", 0, UINT64_MAX, &v);
	ok(rc == 0 && v == UINT64_MAX, "UINT64_MAX");
	v = 42;
	is_int(parse_u64("11", 0, 10, &v), -1, "above max");
	is_int(parse_u64("4", 5, 10, &v), -1, "below min");
	is_int(parse_u64("18446744073709551616", 0, UINT64_MAX, &v), -1, "overflow by one");
	is_int(parse_u64("99999999999999999999", 0, UINT64_MAX, &v), -1, "overflow");
	is_int(parse_u64("", 0, 10, &v), -1, "empty");
	is_int(parse_u64(NULL, 0, 10, &v), -1, "NULL");
	is_int(parse_u64("12a", 0, 100, &v), -1, "trailing junk");
	is_int(parse_u64(" 1", 0, 100, &v), -1, "leading blank");
	is_int(parse_u64("1 ", 0, 100, &v), -1, "trailing blank");
	is_int(parse_u64("+1", 0, 100, &v), -1, "plus sign");
	is_int(parse_u64("-1", 0, 100, &v), -1, "minus sign");
	is_int(parse_u64("0x10", 0, 100, &v), -1, "hex");
	is_int(v, 42, "out untouched on failure");
}

static void test_duration(void)
{
	static const struct {
		const char *s;
		uint64_t ms;
	} good[] = {
	    {"500ms", 500},      {"30s", 30000},      {"2m", 120000},
	    {"1h", 3600000},     {"45", 45000},       {"0", 0},
	    {"0s", 0},           {"0ms", 0},          {"24h", 86400000},
	    {"86400", 86400000}, {"1440m", 86400000}, {"86400000ms", 86400000},
	    {"007s", 7000},
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		uint64_t ms = 1;
		int rc = parse_duration_ms(good[i].s, &ms);
		ok(rc == 0 && ms == good[i].ms, "duration '%s' = %llu ms", good[i].s,
		   (unsigned long long)good[i].ms);
	}
	static const char *const bad[] = {
	    "5x",
	    "-1",
	    "",
	    "1.5s",
	    "ms",
	    "s",
	    "10 s",
	    " 10s",
	    "10s ",
	    "10S",
	    "1sec",
	    "1d",
	    "25h",
	    "86401",
	    "86400001ms",
	    "1441m",
	    "999999999999999999999",
	    "1000000000000ms",
	    "99999999999h",
	    "18446744073709551616",
	    "1h30m",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t ms = 77;
		int rc = parse_duration_ms(bad[i], &ms);
		ok(rc < 0 && ms == 77, "duration '%s' rejected", bad[i]);
	}
	/* Over the limit is told apart from no duration at all, so the
	 * message can give the limit. */
	static const char *const over[] = {"25h", "86401", "86400001ms", "1441m", "99999999999h"};
	for (size_t i = 0; i < sizeof(over) / sizeof(over[0]); i++) {
		uint64_t ms = 77;
		is_int(parse_duration_ms(over[i], &ms), -2, "duration '%s' is over the limit",
		       over[i]);
	}
	static const char *const junk[] = {"1d", "10S", "1h30m", "ms", ""};
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		uint64_t ms = 77;
		is_int(parse_duration_ms(junk[i], &ms), -1, "'%s' is no duration", junk[i]);
	}
	uint64_t day;
	ok(parse_duration_ms(DURATION_MAX_TEXT, &day) == 0 && day == 86400000,
	   "the limit itself is accepted");
	uint64_t ms;
	is_int(parse_duration_ms(NULL, &ms), -1, "NULL duration rejected");
}

static void test_go_bool(void)
{
	static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
	static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
	for (size_t i = 0; i < 6; i++) {
		bool b = false;
		int rc = parse_go_bool(yes[i], &b);
		ok(rc == 0 && b, "'%s' is true", yes[i]);
		b = true;
		rc = parse_go_bool(no[i], &b);
		ok(rc == 0 && !b, "'%s' is false", no[i]);
	}
	static const char *const bad[] = {"yes",   "no", "on", "off", "y", "n",    "tRUE",
	                                  "FaLsE", "",   " 1", "1 ",  "2", "truee"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		bool b = true;
		int rc = parse_go_bool(bad[i], &b);
		ok(rc == -1 && b, "'%s' rejected", bad[i]);
	}
	bool b;
	is_int(parse_go_bool(NULL, &b), -1, "NULL rejected");
}

static void test_strbuf(void)
{
	struct strbuf sb = STRBUF_INIT;
	for (int i = 0; i < 10000; i++)
		sb_addc(&sb, (char)('a' + i % 26));
	is_int(sb.len, 10000, "10000 bytes added one by one");
	ok(sb.cap > sb.len, "room for the NUL");
	is_int(sb.buf[sb.len], 0, "NUL-terminated");
	int same = 1;
	for (int i = 0; i < 10000; i++)
		if (sb.buf[i] != (char)('a' + i % 26))
			same = 0;
	ok(same, "content survives growth");

	size_t cap = sb.cap;
	sb_reset(&sb);
	is_int(sb.len, 0, "reset empties");
	is_int(sb.cap, cap, "reset keeps the allocation");
	is_int(sb.buf[0], 0, "reset wipes");
	sb_wipe(&sb);
	ok(sb.buf == NULL && sb.len == 0 && sb.cap == 0, "wipe frees");

	sb_adds(&sb, "key");
	sb_addc(&sb, '=');
	sb_addf(&sb, "%d-%s", 42, "x");
	sb_add(&sb, "a\0b", 3);
	is_int(sb.len, 11, "length counts embedded NUL");
	ok(memcmp(sb.buf, "key=42-xa\0b", 12) == 0, "mixed appends");
	sb_wipe(&sb);

	char big[5000];
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	sb_addf(&sb, "<%s>", big);
	is_int(sb.len, 5001, "large formatted append");
	ok(sb.buf[0] == '<' && sb.buf[5000] == '>' && sb.buf[5001] == '\0', "formatted content");
	char *s = sb_steal(&sb);
	ok(sb.buf == NULL && sb.len == 0 && sb.cap == 0, "steal resets");
	is_int(strlen(s), 5001, "stolen string");
	free(s);

	s = sb_steal(&sb);
	is_str(s, "", "steal of an empty buffer is an empty string");
	free(s);

	sb_add(&sb, NULL, 0);
	is_str(sb.buf, "", "adding nothing still yields a string");
	sb_wipe(&sb);

	s = xasprintf("%s/%u", "a", 7u);
	is_str(s, "a/7", "xasprintf");
	free(s);
	s = xstrndup("abcdef", 3);
	is_str(s, "abc", "xstrndup");
	secure_free_str(s);
}

static char tmpdir[] = "/tmp/vaultexec-test-XXXXXX";

static char *write_file(const char *name, size_t n)
{
	char *path = xasprintf("%s/%s", tmpdir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	for (size_t i = 0; i < n; i++) {
		char c = (char)('0' + i % 10);
		if (write(fd, &c, 1) != 1)
			break;
	}
	close(fd);
	return path;
}

static void test_read_file(void)
{
	if (!mkdtemp(tmpdir)) {
		ok(0, "mkdtemp");
		return;
	}
	char *buf = NULL;
	size_t len = 0;
	int rc;

	char *small = write_file("small", 6);
	rc = read_file_limited(small, 100, &buf, &len);
	ok(rc == 0, "small file read");
	is_int(len, 6, "small file length");
	is_str(buf, "012345", "small file content, NUL-terminated");
	free(buf);
	rc = read_file_limited(small, 6, &buf, &len);
	ok(rc == 0 && len == 6, "file of exactly max bytes");
	free(buf);
	errno = 0;
	rc = read_file_limited(small, 5, &buf, &len);
	ok(rc == -1 && errno == EFBIG, "one byte over max");

	char *empty = write_file("empty", 0);
	rc = read_file_limited(empty, 10, &buf, &len);
	ok(rc == 0 && len == 0 && buf[0] == '\0', "empty file");
	free(buf);

	char *big = write_file("big", 10000);
	errno = 0;
	rc = read_file_limited(big, 100, &buf, &len);
	ok(rc == -1 && errno == EFBIG, "too big: EFBIG");
	errno = 0;
	rc = read_file_limited(big, 9999, &buf, &len);
	ok(rc == -1 && errno == EFBIG, "too big by one past a read chunk: EFBIG");
	rc = read_file_limited(big, 10000, &buf, &len);
	ok(rc == 0 && len == 10000 && buf[9999] == '9' && buf[10000] == '\0',
	   "large file of exactly max bytes");
	free(buf);

	char *missing = xasprintf("%s/missing", tmpdir);
	errno = 0;
	rc = read_file_limited(missing, 100, &buf, &len);
	ok(rc == -1 && errno == ENOENT, "missing file: ENOENT");
	errno = 0;
	rc = read_file_limited(tmpdir, 100, &buf, &len);
	ok(rc == -1 && errno == EISDIR, "directory: EISDIR");

	unlink(small);
	unlink(empty);
	unlink(big);
	rmdir(tmpdir);
	free(small);
	free(empty);
	free(big);
	free(missing);
}

static void test_misc(void)
{
	uint64_t a = now_ms(), b = now_ms();
	ok(b >= a, "monotonic clock does not go back");
	uint64_t r1 = random_u64(), r2 = random_u64();
	ok(r1 != r2, "random values differ");
}

static void test_closest(void)
{
	is_int((int)edit_distance("pasword", "password"), 1, "one letter missing");
	is_int((int)edit_distance("PASSWORD", "password"), 0, "case is ignored");
	is_int((int)edit_distance("", "abc"), 3, "empty");
	is_int((int)edit_distance("kitten", "sitting"), 3, "kitten/sitting");
	const char *names[] = {"username", "password", "host"};
	is_str(closest_name("pasword", names, 3), "password", "typo found");
	is_str(closest_name("usrname", names, 3), "username", "another typo");
	ok(closest_name("database", names, 3) == NULL, "nothing near: no suggestion");
	ok(closest_name("x", names, 0) == NULL, "no names");
	const char *opts[] = {"service", "secret", "map"};
	is_str(closest_name("sevice", opts, 3), "service", "option typo");
}

static void clean(const char *in, const char *want, const char *what)
{
	struct strbuf sb = STRBUF_INIT;
	vault_clean_error(in, &sb);
	is_str(sb.buf ? sb.buf : "", want, "%s", what);
	sb_wipe(&sb);
}

static void test_clean_error(void)
{
	clean("1 error occurred:\n\t* permission denied\n\n", "permission denied",
	      "multierror of one");
	clean("2 errors occurred:\n\t* a is wrong\n\t* b  is\tworse\n\n", "a is wrong; b is worse",
	      "multierror of two, blanks folded");
	clean("permission denied", "permission denied", "plain text untouched");
	clean("line one\nline two\r\n", "line one; line two", "lines joined");
	clean("  \n\t ", "", "only blanks");
	clean("* starred", "starred", "a lone bullet");
	clean("3 apples", "3 apples", "a number that is no count of errors");
	clean("a\xe2\x80\xa8"
	      "b\xe2\x80\xa9"
	      "c\xc2\x85"
	      "d",
	      "a b c d", "Unicode line separators folded");
}

int main(void)
{
	test_parse_u64();
	test_duration();
	test_go_bool();
	test_strbuf();
	test_read_file();
	test_misc();
	test_closest();
	test_clean_error();
	return tap_done();
}

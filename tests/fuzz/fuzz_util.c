/* The small parsers every option value goes through: parse_duration_ms
 * (--wait, --request-timeout, VAULT_CLIENT_TIMEOUT), parse_u64 and
 * parse_go_bool (VAULT_SKIP_VERIFY and the boolean options).
 *
 * Invariants are checked against an independent reading of the same
 * text with strtoull, so the fuzzer finds disagreements, not only
 * crashes. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "fuzz_common.h"

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return n > 0;
}

static void check_u64(const char *s)
{
	uint64_t v = 0;
	int r = parse_u64(s, 0, UINT64_MAX, &v);
	size_t n = strlen(s);
	if (!all_digits(s, n)) {
		FUZZ_CHECK(r < 0);
		return;
	}
	errno = 0;
	unsigned long long ref = strtoull(s, NULL, 10);
	if (errno == ERANGE) {
		FUZZ_CHECK(r < 0);
		return;
	}
	FUZZ_CHECK(r == 0 && v == ref);
	/* Bounds are inclusive. */
	uint64_t w;
	FUZZ_CHECK(parse_u64(s, v, v, &w) == 0 && w == v);
	if (v > 0)
		FUZZ_CHECK(parse_u64(s, 0, v - 1, &w) < 0);
	if (v < UINT64_MAX)
		FUZZ_CHECK(parse_u64(s, v + 1, UINT64_MAX, &w) < 0);
}

static void check_duration(const char *s)
{
	uint64_t ms = 0;
	int r = parse_duration_ms(s, &ms);
	if (r < 0)
		return;
	FUZZ_CHECK(r == 0 && ms <= 24ULL * 3600 * 1000);
	size_t n = strlen(s), d = 0;
	while (d < n && s[d] >= '0' && s[d] <= '9')
		d++;
	FUZZ_CHECK(d > 0);
	unsigned long long v = strtoull(s, NULL, 10);
	const char *unit = s + d;
	uint64_t mult = !*unit                ? 1000
	                : !strcmp(unit, "ms") ? 1
	                : !strcmp(unit, "s")  ? 1000
	                : !strcmp(unit, "m")  ? 60000
	                : !strcmp(unit, "h")  ? 3600000
	                                      : 0;
	FUZZ_CHECK(mult != 0 && ms == v * mult);
}

static void check_bool(const char *s)
{
	static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
	static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
	bool b = false;
	int r = parse_go_bool(s, &b);
	int want = -1;
	for (size_t i = 0; i < 6; i++) {
		if (!strcmp(s, yes[i]))
			want = 1;
		if (!strcmp(s, no[i]))
			want = 0;
	}
	FUZZ_CHECK(want < 0 ? r < 0 : (r == 0 && b == (want == 1)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fz_cstr(data, size);
	check_u64(s);
	check_duration(s);
	check_bool(s);
	FUZZ_CHECK(parse_duration_ms(NULL, &(uint64_t){0}) < 0);
	free(s);
	return 0;
}

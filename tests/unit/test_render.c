#include <stdlib.h>

#include "render.h"
#include "tap.h"

static char *last;

static const char *N(const char *prefix, const char *field)
{
	free(last);
	last = render_map_all_name(prefix, field);
	return last;
}

int main(void)
{
	is_str(N("", "db-password"), "DB_PASSWORD", "upper-cased, '-' to '_'");
	is_str(N(NULL, "user"), "USER", "NULL prefix");
	is_str(N("APP_", "db-password"), "APP_DB_PASSWORD", "prefix");
	is_str(N("app_", "x"), "app_X", "prefix kept as given");
	is_str(N("", "Already_UP_09"), "ALREADY_UP_09", "valid characters kept");
	is_str(N("", "a.b c/d:e"), "A_B_C_D_E", "punctuation to '_'");
	is_str(N("", "caf\xc3\xa9"), "CAF__", "each UTF-8 byte to '_'");
	is_str(N("", "\xe2\x82\xac"), "___", "all non-ASCII");
	is_str(N("", "_x"), "_X", "leading underscore allowed");
	is_str(N("", "-x"), "_X", "leading '-' becomes '_'");
	is_str(N("", "1password"), NULL, "leading digit is no name");
	is_str(N("", "9"), NULL, "digit only");
	is_str(N("P_", "1password"), "P_1PASSWORD", "digit after a prefix is fine");
	is_str(N("", ""), NULL, "empty field, no prefix");
	is_str(N(NULL, ""), NULL, "empty field, NULL prefix");
	is_str(N("", "zZ"), "ZZ", "lower and upper");
	free(last);
	return tap_done();
}

#include <stdlib.h>

#include "plan.h"
#include "tap.h"

static char *last;

static const char *AP(const char *mount, int kv, const char *path)
{
	free(last);
	last = plan_api_path(mount, kv, path);
	return last;
}

static void test_v2(void)
{
	is_str(AP("secret", 2, "secret/redis-1"), "secret/data/redis-1", "v2 data inserted");
	is_str(AP("secret", 2, "secret/data/redis-1"), "secret/data/redis-1", "v2 form as is");
	is_str(AP("secret", 2, "secret/app/db"), "secret/data/app/db", "nested path");
	is_str(AP("secret", 2, "secret/app/data/x"), "secret/data/app/data/x",
	       "'data' deeper in the path is a name");
	is_str(AP("secret", 2, "secret/database"), "secret/data/database",
	       "'data' prefix of a name");
	is_str(AP("secret", 2, "secret//x"), "secret/data/x", "slashes after the mount skipped");
	is_str(AP("secret", 2, "secrets/x"), "secret/data/secrets/x",
	       "mount must end at a segment boundary");
	is_str(AP("secret", 2, "secret"), "secret/data", "the mount alone");
	is_str(AP("team/kv", 2, "team/kv/app/db"), "team/kv/data/app/db", "nested mount");
	is_str(AP("team/kv", 2, "team/kv/data/app"), "team/kv/data/app", "nested mount, v2 form");
	is_str(AP("kv", 2, "app"), "kv/data/app", "path relative to the mount");
}

static void test_v1(void)
{
	is_str(AP("secret", 1, "secret/redis-1"), "secret/redis-1", "v1 unchanged");
	is_str(AP("secret", 1, "secret/data/redis-1"), "secret/data/redis-1",
	       "v1 keeps a 'data' segment");
	is_str(AP("team/kv", 1, "team/kv/app/db"), "team/kv/app/db", "v1 nested mount");
	is_str(AP("kv", 1, "app"), "kv/app", "v1 relative path");
}

static void test_escaping(void)
{
	is_str(AP("secret", 2, "secret/my app/a#b?c%d"), "secret/data/my%20app/a%23b%3Fc%25d",
	       "space # ? %% escaped per segment, '/' kept");
	is_str(AP("secret", 1, "secret/a+b&c=d"), "secret/a%2Bb%26c%3Dd", "+ & = escaped");
	is_str(AP("secret", 2, "secret/AZaz09-._~"), "secret/data/AZaz09-._~", "unreserved kept");
	is_str(AP("secret", 2, "secret/caf\xc3\xa9"), "secret/data/caf%C3%A9", "UTF-8 bytes");
	is_str(AP("my kv", 2, "my kv/x y"), "my%20kv/data/x%20y", "mount escaped too");
	is_str(AP("secret", 2, "secret/a\\b"), "secret/data/a%5Cb", "backslash escaped");
}

int main(void)
{
	test_v2();
	test_v1();
	test_escaping();
	free(last);
	return tap_done();
}

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "env.h"
#include "exec.h"
#include "render.h"
#include "tap.h"
#include "strbuf.h"
#include "util.h"

static struct strbuf joined = STRBUF_INIT;

/* The built environment joined with '|', so one is_str checks both the
 * contents and the order. */
static const char *join(char **envp)
{
	sb_wipe(&joined);
	sb_adds(&joined, "");
	for (char **e = envp; e && *e; e++) {
		if (e != envp)
			sb_addc(&joined, '|');
		sb_adds(&joined, *e);
	}
	return joined.buf;
}

static const char *B(char **inherited, const struct config *cfg, const char *const *scrub,
                     const struct outvar *vars, size_t nvars)
{
	char **envp = env_build(inherited, cfg, scrub, NULL, vars, nvars);
	join(envp);
	env_free(envp);
	return joined.buf;
}

#define L(...) ((char *[]){__VA_ARGS__, NULL})

static void test_withheld(void)
{
	struct config cfg;
	memset(&cfg, 0, sizeof(cfg));
	static const char *const scrub[] = {"ROLE_ID", "SECRET_ID", NULL};

	is_str(B(L("PATH=/bin", "VAULT_TOKEN=t1", "BAO_TOKEN=t2", "HOME=/h"), &cfg, NULL, NULL, 0),
	       "PATH=/bin|HOME=/h", "tokens removed");
	is_str(B(L("VAULTEXEC_SERVICE=s", "VAULTEXEC_=x", "VAULTEXE=y", "A_VAULTEXEC_X=z"), &cfg,
	         NULL, NULL, 0),
	       "VAULTEXE=y|A_VAULTEXEC_X=z", "VAULTEXEC_* removed, look-alikes kept");
	is_str(B(L("ROLE_ID=r", "SECRET_ID=s", "SECRET_IDX=k", "ROLE=x"), &cfg, scrub, NULL, 0),
	       "SECRET_IDX=k|ROLE=x", "method scrub names removed exactly");
	is_str(B(L("VAULT_TOKENS=a", "VAULT_ADDR=http://v", "BAO_TOKEN_FILE=/f", "vault_token=b"),
	         &cfg, NULL, NULL, 0),
	       "VAULT_TOKENS=a|VAULT_ADDR=http://v|BAO_TOKEN_FILE=/f|vault_token=b",
	       "only the exact token names go");
	is_str(B(L("VAULT_TOKEN", "NOEQ", "A=1", "=empty"), &cfg, NULL, NULL, 0), "A=1|=empty",
	       "entries without '=' dropped");
	is_str(B(L("VAULT_TOKEN=", "E="), &cfg, NULL, NULL, 0), "E=", "empty values kept or not");

	char *kept[] = {"VAULT_TOKEN", "VAULTEXEC_SERVICE", "SECRET_ID"};
	cfg.keep_env.v = kept;
	cfg.keep_env.n = 3;
	is_str(B(L("VAULT_TOKEN=t1", "BAO_TOKEN=t2", "VAULTEXEC_SERVICE=s", "VAULTEXEC_WAIT=1",
	           "SECRET_ID=x", "ROLE_ID=r"),
	         &cfg, scrub, NULL, 0),
	       "VAULT_TOKEN=t1|VAULTEXEC_SERVICE=s|SECRET_ID=x", "keep_env overrides removal");

	ok(env_withheld("VAULT_TOKEN=x", 11, &cfg, NULL) == false, "kept token not withheld");
	ok(env_withheld("BAO_TOKEN", 9, &cfg, NULL) == true, "BAO_TOKEN withheld");
	ok(env_withheld("ROLE_IDX", 7, &cfg, scrub) == true, "name length n respected");
	ok(env_withheld("VAULTEXEC", 9, &cfg, NULL) == false, "VAULTEXEC without '_'");
	ok(env_withheld("VAULTEXEC_", 10, &cfg, NULL) == true, "VAULTEXEC_ alone");

	is_str(B(NULL, &cfg, NULL, NULL, 0), "", "no inherited environment");
}

static void test_rendered(void)
{
	struct config cfg;
	memset(&cfg, 0, sizeof(cfg));

	struct outvar vars[] = {
	    {"DB", "pw", 2, false},       {"NEW", "n\nx", 3, false}, {"GONE", NULL, 0, false},
	    {"REF", "resolved", 8, true}, {"BIN", "a\0b", 3, false},
	};
	is_str(B(L("A=1", "DB=inherited", "GONE=old", "REF=vault:secret/x#f", "Z=2"), &cfg, NULL,
	         vars, 2),
	       "A=1|GONE=old|REF=vault:secret/x#f|Z=2|DB=pw|NEW=n\nx",
	       "inherited first, rendered after; rendered replaces inherited");
	is_str(B(L("A=1", "DB=inherited", "GONE=old", "REF=vault:secret/x#f", "Z=2"), &cfg, NULL,
	         vars, 4),
	       "A=1|Z=2|DB=pw|NEW=n\nx|REF=resolved",
	       "NULL value unsets the inherited variable; env ref replaced");
	is_str(B(L("A=1"), &cfg, NULL, vars + 2, 1), "A=1", "NULL value without inherited");
	is_str(B(NULL, &cfg, NULL, vars, 2), "DB=pw|NEW=n\nx", "only rendered variables");

	/* len, not strlen, decides how much of the value is copied. */
	struct outvar part[] = {{"P", "abcdef", 3, false}};
	is_str(B(L("X=1"), &cfg, NULL, part, 1), "X=1|P=abc", "value length honoured");

	char **envp = env_build(L("A=1"), &cfg, NULL, NULL, vars + 4, 1);
	ok(envp[0] && envp[1] && envp[2] == NULL, "two entries");
	ok(envp[1] && memcmp(envp[1], "BIN=a\0b", 8) == 0, "bytes copied by length");
	env_free(envp);

	/* A rendered variable may be one the scrub removes: it is ours. */
	struct outvar tok[] = {{"VAULT_TOKEN", "child", 5, false}};
	is_str(B(L("VAULT_TOKEN=parent", "B=2"), &cfg, NULL, tok, 1), "B=2|VAULT_TOKEN=child",
	       "a rendered VAULT_TOKEN is set");

	/* The inherited array is not modified. */
	char *inh[] = {"A=1", "VAULT_TOKEN=t", NULL};
	envp = env_build(inh, &cfg, NULL, NULL, vars, 1);
	is_str(inh[1], "VAULT_TOKEN=t", "inherited array untouched");
	ok(envp[0] != inh[0], "entries are copies");
	env_free(envp);
	env_free(NULL);
}

static void test_exec_limits(void)
{
	struct exec_limits l = {16, 64};
	char *argv[] = {(char *)"cmd", (char *)"-x", NULL};
	char *small[] = {(char *)"A=1", (char *)"B=22", NULL};
	is_int(exec_check_limits("/bin/cmd", argv, small, &l), 0, "within both limits");
	/* "BIG=" plus 12 bytes is 16, plus the NUL over the 16 of one string */
	char *big[] = {(char *)"A=1", (char *)"BIG=123456789012", NULL};
	is_int(exec_check_limits("/bin/cmd", argv, big, &l), EXIT_DATA, "one string too long");
	char *edge[] = {(char *)"BIG=12345678901", NULL};
	is_int(exec_check_limits("/bin/cmd", argv, edge, &l), 0, "one string exactly at the limit");
	char *many[] = {(char *)"A=12345", (char *)"B=12345", (char *)"C=12345", NULL};
	/* 9 + 4 + 3 + 3 * 8 bytes of strings, 5 pointers of 8: over 64 */
	is_int(exec_check_limits("/bin/cmd", argv, many, &l), EXIT_DATA, "total too large");
	char *longarg[] = {(char *)"cmd", (char *)"12345678901234567890", NULL};
	is_int(exec_check_limits("/bin/cmd", longarg, small, &l), EXIT_DATA,
	       "one argument too long");
	struct exec_limits real;
	exec_limits_get(&real);
	ok(real.max_string >= 131072 && real.max_total >= 131072, "the running kernel's limits");
}

/* --keep-fds: the inherited pair is replaced by ours, and the LISTEN_PID
 * entry takes any pid in place. */
static void test_listen_fds(void)
{
	struct config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.keep_fds = 2;
	char **envp = env_build(L("LISTEN_FDS=9", "A=1", "LISTEN_PID=1", "LISTEN_FDNAMES=x"), &cfg,
	                        NULL, NULL, NULL, 0);
	exec_set_listen_pid(envp, 4194304);
	is_str(join(envp), "A=1|LISTEN_FDNAMES=x|LISTEN_FDS=2|LISTEN_PID=4194304",
	       "LISTEN_FDS and LISTEN_PID are ours");
	exec_set_listen_pid(envp, 7);
	is_str(join(envp), "A=1|LISTEN_FDNAMES=x|LISTEN_FDS=2|LISTEN_PID=7", "a shorter pid");
	env_free(envp);
	cfg.keep_fds = 0;
	is_str(B(L("LISTEN_FDS=9", "LISTEN_PID=1"), &cfg, NULL, NULL, 0),
	       "LISTEN_FDS=9|LISTEN_PID=1", "without --keep-fds an inherited pair passes as it is");
	char home[] = "/home/app";
	cfg.run_as = (struct runas){true, 1000, 1000, home};
	is_str(B(L("HOME=/root", "A=1"), &cfg, NULL, NULL, 0), "A=1|HOME=/home/app",
	       "--user: HOME is the user's");
}

/* The credential variables: moved to the heap for the run, zeroed in the
 * block they came from (what /proc/PID/environ shows). */
static void test_wipe_credentials(void)
{
	char tok[] = "VAULT_TOKEN=s.abc", sid[] = "VAULTEXEC_SECRET_ID=xyz",
	     addr[] = "VAULT_ADDR=a", rid[] = "VAULTEXEC_ROLE_ID=r1", bao[] = "BAO_TOKEN=b",
	     sidf[] = "VAULTEXEC_SECRET_ID_FILE=f";
	char *envp[] = {tok, sid, addr, rid, bao, sidf, NULL};
	env_wipe_credentials(envp);
	is_str(join(envp),
	       "VAULT_TOKEN=s.abc|VAULTEXEC_SECRET_ID=xyz|VAULT_ADDR=a|VAULTEXEC_ROLE_ID=r1|"
	       "BAO_TOKEN=b|VAULTEXEC_SECRET_ID_FILE=f",
	       "the run still reads every value");
	ok(envp[0] != tok && envp[1] != sid && envp[3] != rid && envp[4] != bao,
	   "credentials moved to the heap");
	ok(envp[2] == addr && envp[5] == sidf, "other variables stay where they were");
	ok(memcmp(tok, "VAULT_TOKEN=\0\0\0\0\0", sizeof(tok)) == 0 &&
	       memcmp(sid, "VAULTEXEC_SECRET_ID=\0\0\0", sizeof(sid)) == 0 &&
	       memcmp(rid, "VAULTEXEC_ROLE_ID=\0\0", sizeof(rid)) == 0 &&
	       memcmp(bao, "BAO_TOKEN=\0", sizeof(bao)) == 0,
	   "their values are zeroed in the block, the names kept");
	for (int i = 0; i < 5; i++)
		if (i != 2)
			free(envp[i]);
}

int main(void)
{
	test_exec_limits();
	test_listen_fds();
	test_wipe_credentials();
	test_withheld();
	test_rendered();
	sb_wipe(&joined);
	return tap_done();
}

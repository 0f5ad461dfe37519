/* An LD_PRELOAD library for tests/integration/test_freed_memory.py: every
 * block vaultexec frees (free, and the old block of a realloc) is appended
 * to the file named by FREESCAN_OUT before it goes back to the allocator,
 * so the test can search all freed memory of a run for the token, the
 * secret ID and the secret.  Only the process whose executable is named
 * vaultexec is watched: the command it execs inherits LD_PRELOAD and
 * holds the secrets legitimately.
 *
 * glibc only: it replaces free and realloc and calls glibc's own
 * __libc_malloc / __libc_free, and sizes blocks with malloc_usable_size. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern void *__libc_malloc(size_t n);
extern void __libc_free(void *p);

static int out_fd = -1;
static unsigned long nfreed;

__attribute__((constructor)) static void freescan_init(void)
{
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return;
	exe[n] = '\0';
	const char *base = strrchr(exe, '/');
	base = base ? base + 1 : exe;
	const char *path = getenv("FREESCAN_OUT");
	if (!path || strcmp(base, "vaultexec") != 0)
		return;
	out_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	/* Says the library was loaded and armed: a static binary ignores
	 * LD_PRELOAD, and the test would otherwise pass without looking. */
	static const char mark[] = "--freescan: armed--\n";
	if (out_fd >= 0 && write(out_fd, mark, sizeof(mark) - 1) < 0)
		out_fd = -1;
}

static void dump(const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t w = write(out_fd, c, n);
		if (w <= 0)
			return;
		c += w;
		n -= (size_t)w;
	}
}

void free(void *p)
{
	if (p && out_fd >= 0) {
		dump(p, malloc_usable_size(p));
		nfreed++;
	}
	__libc_free(p);
}

/* Always moves the block, so that the old one passes through free(). */
void *realloc(void *p, size_t n)
{
	if (!p)
		return __libc_malloc(n);
	if (n == 0) {
		free(p);
		return NULL;
	}
	void *q = __libc_malloc(n);
	if (!q)
		return NULL;
	size_t old = malloc_usable_size(p);
	memcpy(q, p, old < n ? old : n);
	free(p);
	return q;
}

/* The storm's child: writes the value of $STORM_VALUE and the time of its
 * own start (CLOCK_REALTIME, ns) to argv[1], then exits 0.  Static and tiny,
 * so 200 of them start in no time.
 *
 *     child OUTFILE
 *
 * Output: "<value>\n<seconds>.<nanoseconds>\n"; exit 2 if STORM_VALUE is
 * unset (vaultexec would have started the child with a partial
 * environment), 3 if the file cannot be written. */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (argc < 2)
		return 2;
	const char *v = getenv("STORM_VALUE");
	if (!v)
		return 2;
	int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return 3;
	char stamp[64];
	int n = snprintf(stamp, sizeof(stamp), "\n%lld.%09ld\n", (long long)ts.tv_sec, ts.tv_nsec);
	if (write_all(fd, v, strlen(v)) < 0 || write_all(fd, stamp, (size_t)n) < 0 || close(fd) < 0)
		return 3;
	return 0;
}

/* The child in the bare-root-filesystem test: a static program that
 * writes its argv and environment, NUL-separated, to the file named by
 * argv[1], so the test can read what vaultexec handed over. */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

static void put(int fd, const char *s)
{
	size_t n = strlen(s) + 1;
	while (n) {
		ssize_t w = write(fd, s, n);
		if (w <= 0)
			_exit(3);
		s += w;
		n -= (size_t)w;
	}
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return 2;
	for (int i = 0; i < argc; i++)
		put(fd, argv[i]);
	put(fd, "--env--");
	for (char **e = environ; *e; e++)
		put(fd, *e);
	close(fd);
	return 0;
}

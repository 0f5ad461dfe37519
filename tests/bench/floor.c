/*
 * The floor of the exec-path benchmark: the least any tool can do for the
 * job.  One raw HTTP/1.1 exchange over loopback (no TLS, no JSON parser, no
 * retries, no checks a real tool needs), the field cut out of the answer
 * with strstr, one setenv and one execve.  vaultexec's time over this
 * one's is the ratio bench.py prints.
 *
 *   VAULT_ADDR=http://127.0.0.1:PORT VAULT_TOKEN=... floor PATH FIELD VAR cmd args...
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv)
{
	const char *addr = getenv("VAULT_ADDR"), *token = getenv("VAULT_TOKEN");
	if (argc < 5 || !addr || !token || strncmp(addr, "http://127.0.0.1:", 17) != 0)
		return 2;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(atoi(addr + 17))};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		return 69;
	static char buf[65536];
	int n = snprintf(buf, sizeof(buf),
	                 "GET /v1/%s HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Vault-Token: %s\r\n"
	                 "Connection: close\r\n\r\n",
	                 argv[1], token);
	if (write(fd, buf, n) != n)
		return 69;
	size_t len = 0;
	ssize_t r;
	while (len < sizeof(buf) - 1 && (r = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += r;
	buf[len] = '\0';
	char key[256];
	snprintf(key, sizeof(key), "\"%s\":\"", argv[2]);
	char *v = strstr(buf, key);
	if (!v)
		return 65;
	v += strlen(key);
	char *end = strchr(v, '"');
	if (!end)
		return 65;
	*end = '\0';
	setenv(argv[3], v, 1);
	execve(argv[4], argv + 4, environ);
	return 127;
}

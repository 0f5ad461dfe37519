#include "fakeserver.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "strbuf.h"
#include "util.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct strbuf *queue;
static size_t nqueue, next, served;
static char sock_path[108];
static int listen_fd = -1;

/* Reads one request: the head up to the blank line, then a body of
 * Content-Length bytes (login POSTs).  A TLS ClientHello (after a redirect
 * to https) is answered at once, a silent client after a short wait. */
static void read_request(int fd)
{
	char buf[8192];
	size_t have = 0, need = 0;
	for (;;) {
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, 200) <= 0)
			return;
		ssize_t r = read(fd, buf + have, sizeof(buf) - 1 - have);
		if (r <= 0)
			return;
		if (have == 0 && buf[0] == 0x16)
			return;
		have += (size_t)r;
		buf[have] = '\0';
		const char *end = strstr(buf, "\r\n\r\n");
		if (end && !need) {
			const char *cl = strcasestr(buf, "\r\ncontent-length:");
			size_t body = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
			need = (size_t)(end + 4 - buf) + body;
		}
		if ((need && have >= need) || have == sizeof(buf) - 1)
			return;
	}
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* the client gave up (body too large, say) */
		p += w;
		n -= (size_t)w;
	}
}

static void *serve(void *arg)
{
	(void)arg;
	for (;;) {
		int fd = accept(listen_fd, NULL, NULL);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			perror("fakeserver: accept");
			exit(1);
		}
		read_request(fd);
		struct strbuf ans = STRBUF_INIT;
		pthread_mutex_lock(&lock);
		served++;
		if (next < nqueue)
			sb_add(&ans, queue[next].buf ? queue[next].buf : "", queue[next].len);
		next++;
		pthread_mutex_unlock(&lock);
		write_all(fd, ans.buf ? ans.buf : "", ans.len);
		sb_wipe(&ans);
		/* A close with unread data would reset the connection before the
		 * client has read the answer; the request was read whole, so
		 * only stray bytes are left to drain. */
		shutdown(fd, SHUT_WR);
		char drain[512];
		while (recv(fd, drain, sizeof(drain), MSG_DONTWAIT) > 0)
			;
		close(fd);
	}
	return NULL;
}

static void cleanup(void)
{
	unlink(sock_path);
}

const char *fakeserver_start(void)
{
	if (listen_fd >= 0)
		return sock_path;
	snprintf(sock_path, sizeof(sock_path), "/tmp/vaultexec-fuzz-%ld.sock", (long)getpid());
	unlink(sock_path);
	struct sockaddr_un sa = {0};
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
	listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(listen_fd, 16) < 0) {
		perror("fakeserver: socket");
		exit(1);
	}
	atexit(cleanup);
	pthread_t t;
	if (pthread_create(&t, NULL, serve, NULL) != 0) {
		perror("fakeserver: pthread_create");
		exit(1);
	}
	pthread_detach(t);
	return sock_path;
}

void fakeserver_set(const char *const *answers, const size_t *lens, size_t n)
{
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < nqueue; i++)
		sb_wipe(&queue[i]);
	free(queue);
	queue = xcalloc(n, sizeof(*queue));
	for (size_t i = 0; i < n; i++)
		sb_add(&queue[i], answers[i], lens[i]);
	nqueue = n;
	next = 0;
	served = 0;
	pthread_mutex_unlock(&lock);
}

size_t fakeserver_served(void)
{
	pthread_mutex_lock(&lock);
	size_t n = served;
	pthread_mutex_unlock(&lock);
	return n;
}

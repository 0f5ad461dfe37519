#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "strbuf.h"
#include "util.h"

int read_file_limited(const char *path, size_t max, char **out, size_t *len)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -1;
	if (S_ISDIR(st.st_mode)) {
		errno = EISDIR;
		return -1;
	}
	struct strbuf sb = STRBUF_INIT;
	sb_grow(&sb, 4096);
	for (;;) {
		if (sb.len > max) {
			sb_wipe(&sb);
			errno = EFBIG;
			return -1;
		}
		sb_grow(&sb, 4096);
		ssize_t r = read(fd, sb.buf + sb.len, sb.cap - sb.len - 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int saved = errno;
			sb_wipe(&sb);
			errno = saved;
			return -1;
		}
		if (r == 0)
			break;
		sb.len += (size_t)r;
		sb.buf[sb.len] = '\0';
	}
	if (sb.len > max) {
		sb_wipe(&sb);
		errno = EFBIG;
		return -1;
	}
	*len = sb.len;
	*out = sb_steal(&sb);
	return 0;
}

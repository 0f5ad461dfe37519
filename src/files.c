#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "strbuf.h"
#include "util.h"

static int write_all(int fd, const char *data, size_t len)
{
	while (len) {
		ssize_t w = write(fd, data, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		data += w;
		len -= (size_t)w;
	}
	return 0;
}

/* what names the option in messages: --file, --install. */
static int stage(const char *what, const char *dest, const char *data, size_t len, mode_t mode,
                 const struct runas *owner, char **tmp_out)
{
	const char *slash = strrchr(dest, '/');
	_cleanup_free_ char *dir = slash ? xstrndup(dest, (size_t)(slash - dest)) : xstrdup(".");
	if (!*dir) {
		free(dir);
		dir = xstrdup("/");
	}
	struct stat st;
	if (stat(dest, &st) == 0 && S_ISDIR(st.st_mode)) {
		log_error("%s %s: is a directory; give the path of a file in it", what, dest);
		return EXIT_IOERR;
	}
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int fd = -1;
	/* O_EXCL on a random name: no race with another writer, no symlink
	 * followed, and the final name appears only once complete. */
	for (int tries = 0; tries < 16 && fd < 0; tries++) {
		free(tmp);
		tmp = xasprintf("%s/.%s.vaultexec-%08llx", dir, slash ? slash + 1 : dest,
		                (unsigned long long)(random_u64() & 0xffffffffULL));
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	if (fd < 0) {
		int e = errno;
		const char *hint = e == ENOENT    ? "; create the directory or mount a volume there"
		                   : e == EROFS   ? "; mount a writable volume (a tmpfs) there"
		                   : e == EACCES  ? "; make it writable for this user"
		                   : e == ENOTDIR ? "; a part of the path is not a directory"
		                                  : "";
		log_error("%s %s: cannot create a file in %s: %s%s", what, dest, dir, strerror(e),
		          hint);
		return EXIT_IOERR;
	}
	const char *step = NULL;
	if (fchmod(fd, mode) < 0)
		step = "chmod";
	else if (owner && owner->set && fchown(fd, owner->uid, owner->gid) < 0)
		step = "chown";
	else if (write_all(fd, data, len) < 0)
		step = "write";
	else if (fsync(fd) < 0)
		step = "fsync";
	if (!step) {
		int c = close(fd);
		fd = -1;
		if (c == 0) {
			*tmp_out = steal_pointer(&tmp);
			return 0;
		}
		step = "close";
	}
	int saved = errno;
	unlink(tmp);
	log_error("%s %s: %s failed: %s", what, dest, step, strerror(saved));
	return EXIT_IOERR;
}

static int commit(const char *what, const char *tmp, const char *dest)
{
	if (rename(tmp, dest) == 0)
		return 0;
	int saved = errno;
	unlink(tmp);
	log_error("%s %s: rename failed: %s", what, dest, strerror(saved));
	return EXIT_IOERR;
}

int file_stage(const char *dest, const char *data, size_t len, mode_t mode,
               const struct runas *owner, char **tmp_out)
{
	return stage("--file", dest, data, len, mode, owner, tmp_out);
}

int file_commit(const char *tmp, const char *dest)
{
	return commit("--file", tmp, dest);
}

/* The running binary, whatever its name or path, is the one the kernel
 * mapped: /proc/self/exe.  Written like a --file (temporary name, fsync,
 * rename), so a container starting from DIR at the same time never sees
 * half a binary. */
int file_install_self(const char *dir)
{
	char *data;
	size_t len;
	if (read_file_limited("/proc/self/exe", 64u << 20, &data, &len) < 0) {
		log_error("--install %s: cannot read /proc/self/exe: %s", dir, strerror(errno));
		return EXIT_IOERR;
	}
	size_t n = strlen(dir);
	while (n > 1 && dir[n - 1] == '/')
		n--;
	_cleanup_free_ char *dest = xasprintf("%.*s/vaultexec", (int)n, dir);
	char *tmp = NULL;
	int r = stage("--install", dest, data, len, 0555, NULL, &tmp);
	if (!r)
		r = commit("--install", tmp, dest);
	free(tmp);
	free(data);
	if (!r)
		log_info("installed %s (%zu bytes, mode 0555)", dest, len);
	return r;
}

void file_abort(const char *tmp)
{
	unlink(tmp);
}

int file_write_atomic(const char *dest, const char *data, size_t len, mode_t mode,
                      const struct runas *owner)
{
	char *tmp = NULL;
	int r = file_stage(dest, data, len, mode, owner, &tmp);
	if (!r)
		r = file_commit(tmp, dest);
	free(tmp);
	return r;
}

int file_probe(const char *dest, mode_t mode, const struct runas *owner)
{
	/* The same steps as the run, with nothing in the file: the answer
	 * (missing directory, read-only file system, no permission, quota)
	 * is the kernel's, not a guess from mode bits, and root gets it right. */
	char *tmp = NULL;
	int r = file_stage(dest, "", 0, mode, owner, &tmp);
	if (!r)
		file_abort(tmp);
	free(tmp);
	return r;
}

int files_write_all(const struct outfile *files, size_t n, mode_t mode, const struct runas *owner)
{
	char **tmps = xcalloc(n + 1, sizeof(*tmps));
	int r = 0;
	for (size_t i = 0; i < n && !r; i++)
		if (files[i].content)
			r = file_stage(files[i].path, files[i].content, files[i].len, mode, owner,
			               &tmps[i]);
	for (size_t i = 0; i < n && !r; i++)
		if (tmps[i]) {
			r = file_commit(tmps[i], files[i].path);
			free(tmps[i]);
			tmps[i] = NULL;
		}
	for (size_t i = 0; i < n; i++)
		if (tmps[i]) {
			file_abort(tmps[i]);
			free(tmps[i]);
		}
	free(tmps);
	return r;
}

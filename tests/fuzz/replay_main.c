/* A main() for the harnesses without libFuzzer: runs LLVMFuzzerTestOneInput
 * on every file named on the command line (directories: every file in
 * them), so the seed corpora and regression inputs replay under any
 * compiler and sanitizer as an ordinary meson test.  Exit 0 when all ran;
 * a finding aborts, as under libFuzzer. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fileio.h"
#include "fuzz_common.h"

__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

static int run_file(const char *path)
{
	char *data;
	size_t len;
	if (read_file_limited(path, 16u << 20, &data, &len) < 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	/* An exact-size copy, so ASan sees reads past the end of the input. */
	uint8_t *copy = xmalloc(len);
	memcpy(copy, data, len);
	free(data);
	LLVMFuzzerTestOneInput(copy, len);
	free(copy);
	return 0;
}

static int names_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_path(const char *path, size_t *count)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		(*count)++;
		return run_file(path);
	}
	DIR *d = opendir(path);
	if (!d) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	char **names = NULL;
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		names = xrealloc(names, (n + 1) * sizeof(*names));
		names[n++] = xasprintf("%s/%s", path, e->d_name);
	}
	closedir(d);
	if (n) /* qsort(NULL, 0, ...) is still undefined */
		qsort(names, n, sizeof(*names), names_cmp);
	int r = 0;
	for (size_t i = 0; i < n; i++) {
		if (r == 0)
			r = run_path(names[i], count);
		free(names[i]);
	}
	free(names);
	return r;
}

int main(int argc, char **argv)
{
	LLVMFuzzerInitialize(&argc, &argv);
	size_t count = 0;
	for (int i = 1; i < argc; i++)
		if (run_path(argv[i], &count) < 0)
			return 1;
	printf("replayed %zu input%s\n", count, count == 1 ? "" : "s");
	return 0;
}

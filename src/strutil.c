#include "strutil.h"

const char *find_ctl(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return s + i;
	return NULL;
}

void trim_slashes(const char **s, size_t *n)
{
	while (*n && (*s)[*n - 1] == '/')
		(*n)--;
	while (*n && **s == '/')
		(*s)++, (*n)--;
}

size_t json_escape_byte(unsigned char c, char out[6])
{
	static const char hex[] = "0123456789abcdef";
	static const char shorts[] = "\"\"\\\\\nn\tt\rr\bb\ff";
	for (const char *p = shorts; *p; p += 2)
		if ((unsigned char)*p == c) {
			out[0] = '\\';
			out[1] = p[1];
			return 2;
		}
	if (c >= 0x20 && c != 0x7f) {
		out[0] = (char)c;
		return 1;
	}
	out[0] = '\\';
	out[1] = 'u';
	out[2] = '0';
	out[3] = '0';
	out[4] = hex[c >> 4];
	out[5] = hex[c & 15];
	return 6;
}

bool pct_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

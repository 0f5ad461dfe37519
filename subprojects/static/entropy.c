/* The entropy source of the static build's Mbed TLS.
 *
 * Mbed TLS calls getrandom() only when built against glibc; on musl it
 * reads /dev/urandom, which a bare root filesystem (FROM scratch, or the
 * chroot test) may not have.  mbedtls_config.h therefore turns the platform
 * source off (MBEDTLS_NO_PLATFORM_ENTROPY) and asks for this hook instead
 * (MBEDTLS_ENTROPY_HARDWARE_ALT).  It is linked whole into everything that
 * uses the static dependencies, like relro.c. */
#include <errno.h>
#include <stddef.h>
#include <sys/random.h>
#include <sys/types.h>

int mbedtls_hardware_poll(void *data, unsigned char *output, size_t len, size_t *olen);

int mbedtls_hardware_poll(void *data, unsigned char *output, size_t len, size_t *olen)
{
	(void)data;
	size_t done = 0;
	while (done < len) {
		ssize_t r = getrandom(output + done, len - done, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		done += (size_t)r;
	}
	*olen = done;
	return 0;
}

/*
 * Smoke test for the static dependency recipe: links the same static
 * libcurl / Mbed TLS / cJSON as vaultexec, does one GET and parses the JSON
 * answer.  Driven by smoke-test.py.
 *
 *   static-smoke URL [--cacert FILE] [--cert FILE --key FILE] [--unix PATH]
 *                    [--proxy URL] [--expect-tls VERSION] [--timeout-ms N]
 *   static-smoke --features | --hardening
 *
 * Prints "tls=<version>" and "value=<data.value>"; exit status 0 on success.
 */
#include <curl/curl.h>
#include <link.h>
#include <cjson/cJSON.h>
#include <mbedtls/base64.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/ssl.h>
#include <mbedtls/version.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct buf {
    char *data;
    size_t len;
    CURL *h;
    const char *tls; /* TLS version, read while the connection is live */
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct buf *b = userdata;
    size_t n = size * nmemb;
    struct curl_tlssessioninfo *ti = NULL;
    if (!b->tls && curl_easy_getinfo(b->h, CURLINFO_TLS_SSL_PTR, &ti) == CURLE_OK && ti &&
        ti->backend == CURLSSLBACKEND_MBEDTLS && ti->internals)
        b->tls = mbedtls_ssl_get_version((const mbedtls_ssl_context *)ti->internals);
    char *p = realloc(b->data, b->len + n + 1);
    if (!p)
        return 0;
    memcpy(p + b->len, ptr, n);
    b->data = p;
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

static int print_features(void)
{
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    printf("curl=%s\nssl=%s\n", v->version, v->ssl_version);
    printf("libz=%s\n", v->libz_version ? v->libz_version : "none");
    printf("protocols=");
    for (const char *const *p = v->protocols; *p; p++)
        printf("%s%s", *p, p[1] ? "," : "\n");
    printf("asynchdns=%d\n", !!(v->features & CURL_VERSION_ASYNCHDNS));
    printf("unix_sockets=%d\n", !!(v->features & CURL_VERSION_UNIX_SOCKETS));
    printf("http2=%d\n", !!(v->features & CURL_VERSION_HTTP2));
    printf("idn=%d\n", !!(v->features & CURL_VERSION_IDN));
    printf("psl=%d\n", !!(v->features & CURL_VERSION_PSL));
    printf("libz_feature=%d\n", !!(v->features & CURL_VERSION_LIBZ));
    printf("ntlm=%d\n", !!(v->features & CURL_VERSION_NTLM));
    printf("proxy=%d\n", !!(v->features & CURL_VERSION_HTTPS_PROXY));
    printf("mbedtls=%s\n", MBEDTLS_VERSION_STRING);
    /* vaultexec parses Retry-After dates with it: must be the real parser */
    printf("getdate=%lld\n", (long long)curl_getdate("Sun, 06 Nov 1994 08:49:37 GMT", NULL));
    return 0;
}

/* --hardening: is the PT_GNU_RELRO range read-only at run time (relro.c),
 * and where is main (static-pie: changes from run to run)? */
static int relro_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    uintptr_t *range = data;
    for (size_t i = 0; i < info->dlpi_phnum; i++) {
        if (info->dlpi_phdr[i].p_type == PT_GNU_RELRO) {
            range[0] = info->dlpi_addr + info->dlpi_phdr[i].p_vaddr;
            range[1] = range[0] + info->dlpi_phdr[i].p_memsz;
        }
    }
    return 1;
}

static int print_hardening(void)
{
    uintptr_t range[2] = {0, 0};
    dl_iterate_phdr(relro_cb, range);
    const char *relro = "absent";
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    uintptr_t probe = range[0] & ~(uintptr_t)4095; /* first page of the range */
    while (range[0] && f && fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        char perms[5];
        if (sscanf(line, "%lx-%lx %4s", &lo, &hi, perms) == 3 && probe >= lo && probe < hi)
            relro = perms[1] == 'w' ? "writable" : "read-only";
    }
    if (f)
        fclose(f);
    printf("relro=%s\nmain=%p\n", relro, (void *)(uintptr_t)&print_hardening);
    return 0;
}

int main(int argc, char **argv)
{
    const char *url = NULL, *cacert = NULL, *unix_path = NULL, *proxy = NULL, *expect_tls = NULL;
    const char *cert = NULL, *key = NULL;
    long timeout_ms = 15000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--features"))
            return print_features();
        if (!strcmp(argv[i], "--hardening"))
            return print_hardening();
        if (i + 1 < argc && !strcmp(argv[i], "--cacert"))
            cacert = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--unix"))
            unix_path = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--proxy"))
            proxy = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--timeout-ms"))
            timeout_ms = strtol(argv[++i], NULL, 10);
        else if (i + 1 < argc && !strcmp(argv[i], "--cert"))
            cert = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--key"))
            key = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--expect-tls"))
            expect_tls = argv[++i];
        else
            url = argv[i];
    }
    if (!url) {
        fprintf(stderr, "usage: %s URL [--cacert F] [--cert F --key F] [--unix P] [--proxy U]"
                        " [--expect-tls V]\n",
                argv[0]);
        return 2;
    }

    /* The two Mbed TLS calls vaultexec makes itself. */
    unsigned char b64[32];
    size_t olen = 0;
    char secret[] = "s3cr3t";
    if (mbedtls_base64_encode(b64, sizeof b64, &olen, (const unsigned char *)secret,
                              strlen(secret)) != 0 || strcmp((char *)b64, "czNjcjN0") != 0) {
        fprintf(stderr, "base64 mismatch\n");
        return 1;
    }
    mbedtls_platform_zeroize(secret, sizeof secret);

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return 1;
    CURL *h = curl_easy_init();
    struct buf body = {0};
    body.h = h;
    char err[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, err);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    /* Without this, libcurl 8.14's threaded resolver makes a timed-out
     * transfer wait for getaddrinfo() to finish before returning. */
    if (!getenv("SMOKE_NO_QUICK_EXIT"))
        curl_easy_setopt(h, CURLOPT_QUICK_EXIT, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    if (cacert)
        curl_easy_setopt(h, CURLOPT_CAINFO, cacert);
    if (unix_path)
        curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, unix_path);
    if (cert)
        curl_easy_setopt(h, CURLOPT_SSLCERT, cert);
    if (key)
        curl_easy_setopt(h, CURLOPT_SSLKEY, key);
    curl_easy_setopt(h, CURLOPT_PROXY, proxy ? proxy : "");
    if (getenv("SMOKE_VERBOSE"))
        curl_easy_setopt(h, CURLOPT_VERBOSE, 1L);

    CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
        fprintf(stderr, "curl: %s (%d): %s\n", curl_easy_strerror(rc), (int)rc, err);
        return 3;
    }
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);

    const char *tls = body.tls ? body.tls : "none";
    printf("status=%ld\ntls=%s\n", status, tls);
    if (expect_tls && strcmp(expect_tls, tls) != 0) {
        fprintf(stderr, "expected %s, got %s\n", expect_tls, tls);
        return 4;
    }

    cJSON *doc = cJSON_ParseWithOpts(body.data ? body.data : "", NULL, 1);
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(doc, "data");
    const cJSON *value = cJSON_GetObjectItemCaseSensitive(data, "value");
    if (!cJSON_IsString(value)) {
        fprintf(stderr, "bad JSON: %s\n", body.data ? body.data : "(empty)");
        return 5;
    }
    printf("value=%s\n", value->valuestring);
    cJSON_Delete(doc);
    free(body.data);
    curl_easy_cleanup(h);
    curl_global_cleanup();
    return status == 200 ? 0 : 6;
}

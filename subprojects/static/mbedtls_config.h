/*
 * Mbed TLS 3.6 configuration for the static vaultexec build.
 *
 * This file replaces include/mbedtls/mbedtls_config.h of the pinned
 * Mbed TLS source tree before it is built (see deps.py), so the library,
 * libcurl's mbedtls backend and vaultexec itself all see the same options.
 *
 * Scope: a TLS 1.2 + TLS 1.3 *client* (no server, no DTLS, no PSK), as used
 * by libcurl talking to Vault:
 *   - TLS 1.3: TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384,
 *              TLS_CHACHA20_POLY1305_SHA256, (EC)DHE key exchange only
 *   - TLS 1.2: ECDHE-ECDSA / ECDHE-RSA with AES-GCM or ChaCha20-Poly1305
 *              (forward-secret AEAD suites only: no CBC, no static RSA, no DHE)
 *   - groups: x25519, secp256r1, secp384r1, secp521r1
 *   - certificates: RSA (PKCS#1 v1.5 and PSS) and ECDSA, SHA-256/384/512,
 *     PEM or DER, CA file and CA directory, client certificate + key
 *     (unencrypted PEM/DER keys)
 * plus what vaultexec uses directly: base64 and mbedtls_platform_zeroize().
 *
 * Everything not listed here is off. check_config.h validates the set at
 * compile time.
 */
#ifndef VAULTEXEC_MBEDTLS_CONFIG_H
#define VAULTEXEC_MBEDTLS_CONFIG_H

/* ---- System support --------------------------------------------------- */
#define MBEDTLS_HAVE_ASM
#define MBEDTLS_HAVE_TIME
#define MBEDTLS_HAVE_TIME_DATE          /* certificate validity checks */
#define MBEDTLS_FS_IO                   /* CA file / CA dir / client cert files */
#define MBEDTLS_DEPRECATED_REMOVED

/* ---- Size trade-offs (a few % slower, noticeably smaller) ------------- */
#define MBEDTLS_AES_FEWER_TABLES
#define MBEDTLS_SHA256_SMALLER
#define MBEDTLS_SHA512_SMALLER
#define MBEDTLS_BLOCK_CIPHER_NO_DECRYPT /* GCM/CTR_DRBG only need AES encrypt */

/* ---- Elliptic curves -------------------------------------------------- */
#define MBEDTLS_ECP_DP_SECP256R1_ENABLED
#define MBEDTLS_ECP_DP_SECP384R1_ENABLED
#define MBEDTLS_ECP_DP_SECP521R1_ENABLED
#define MBEDTLS_ECP_DP_CURVE25519_ENABLED
#define MBEDTLS_ECP_NIST_OPTIM
/* No precomputed multiples of each curve's generator (the comb tables are
 * ~10 KB of rodata for P-256/384/521): an ECDHE key share or an ECDSA
 * verification costs a little more CPU, once per connection, and x25519,
 * which Go's and OpenSSL's servers pick first, does not use them. */
#define MBEDTLS_ECP_FIXED_POINT_OPTIM 0
/* No deterministic ECDSA (RFC 6979): the only ECDSA signature a client
 * makes is with an ECDSA client key, and a random nonce from CTR_DRBG
 * is as good there; it saves HMAC_DRBG. */

/* ---- TLS 1.2 key exchanges (forward secret only) ---------------------- */
#define MBEDTLS_KEY_EXCHANGE_ECDHE_RSA_ENABLED
#define MBEDTLS_KEY_EXCHANGE_ECDHE_ECDSA_ENABLED

/* ---- Public key / RSA ------------------------------------------------- */
#define MBEDTLS_PKCS1_V15
#define MBEDTLS_PKCS1_V21               /* RSA-PSS: mandatory for TLS 1.3 */
#define MBEDTLS_X509_RSASSA_PSS_SUPPORT

/* ---- TLS -------------------------------------------------------------- */
#define MBEDTLS_SSL_ALL_ALERT_MESSAGES
#define MBEDTLS_SSL_EXTENDED_MASTER_SECRET
#define MBEDTLS_SSL_KEEP_PEER_CERTIFICATE /* libcurl: pinned public key, cert info */
#define MBEDTLS_SSL_PROTO_TLS1_2
#define MBEDTLS_SSL_PROTO_TLS1_3
#define MBEDTLS_SSL_TLS1_3_COMPATIBILITY_MODE
#define MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_EPHEMERAL_ENABLED
#define MBEDTLS_SSL_ALPN
#define MBEDTLS_SSL_SERVER_NAME_INDICATION
/* Off on purpose: renegotiation, session tickets / TLS 1.3 PSK resumption,
 * max fragment length, encrypt-then-MAC (CBC only), DTLS, early data,
 * context serialization, keying material export. */

/* ---- Modules ---------------------------------------------------------- */
#define MBEDTLS_AESNI_C                 /* x86_64 AES-NI, runtime detected */
#define MBEDTLS_AESCE_C                 /* aarch64 crypto extensions, runtime detected */
#define MBEDTLS_AES_C
#define MBEDTLS_ASN1_PARSE_C
#define MBEDTLS_ASN1_WRITE_C
#define MBEDTLS_BASE64_C                /* PEM, and vaultexec itself */
#define MBEDTLS_BIGNUM_C
#define MBEDTLS_CHACHA20_C
#define MBEDTLS_CHACHAPOLY_C
#define MBEDTLS_CIPHER_C
#define MBEDTLS_CTR_DRBG_C
#define MBEDTLS_ECDH_C
#define MBEDTLS_ECDSA_C
#define MBEDTLS_ECP_C
#define MBEDTLS_ENTROPY_C
/* mbedtls uses getrandom() only with glibc; on musl it reads /dev/urandom,
 * which a bare root filesystem may not have.  vaultexec supplies a
 * getrandom()-based source instead (mbedtls_hardware_poll in subprojects/static/entropy.c). */
#define MBEDTLS_NO_PLATFORM_ENTROPY
#define MBEDTLS_ENTROPY_HARDWARE_ALT
#define MBEDTLS_ERROR_C                 /* readable TLS errors in vaultexec's messages */
#define MBEDTLS_GCM_C
#define MBEDTLS_HKDF_C                  /* TLS 1.3 key schedule */
#define MBEDTLS_MD_C
#define MBEDTLS_OID_C
#define MBEDTLS_PEM_PARSE_C
#define MBEDTLS_PK_C
#define MBEDTLS_PK_PARSE_C
#define MBEDTLS_PK_WRITE_C              /* libcurl CURLOPT_PINNEDPUBLICKEY */
#define MBEDTLS_PLATFORM_C
#define MBEDTLS_POLY1305_C
#define MBEDTLS_PSA_CRYPTO_C            /* required by TLS 1.3 in 3.6 */
#define MBEDTLS_RSA_C
#define MBEDTLS_SHA256_C
#define MBEDTLS_SHA384_C
#define MBEDTLS_SHA512_C
#define MBEDTLS_SSL_CLI_C
#define MBEDTLS_SSL_TLS_C
#define MBEDTLS_VERSION_C
#define MBEDTLS_X509_USE_C
#define MBEDTLS_X509_CRT_PARSE_C

#endif /* VAULTEXEC_MBEDTLS_CONFIG_H */

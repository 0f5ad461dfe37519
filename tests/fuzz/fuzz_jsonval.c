/* Vault's JSON answers: jdoc_parse, then every node through jval_to_text,
 * the envelope helpers (errors, data, data.data, data.metadata) that
 * plan.c and vault.c read, and vault_error_message.
 *
 * Invariants checked: a failed conversion leaves the buffer as it was; a
 * compact object or array is JSON that parses back to the same text; a
 * string without NUL comes out as cJSON's own value. */
#include <string.h>

#include "fuzz_common.h"
#include "jsonval.h"
#include "vault.h"
#include "strbuf.h"

static int depth_budget;

static void walk(const struct jdoc *d, const cJSON *node, int keyed)
{
	if (--depth_budget < 0)
		return;
	if (keyed)
		(void)jval_key_has_nul(d, node);
	struct strbuf sb = STRBUF_INIT;
	sb_adds(&sb, "x");
	enum jval_result r = jval_to_text(d, node, &sb);
	FUZZ_CHECK(r == JVAL_OK || r == JVAL_NULL || r == JVAL_HAS_NUL);
	FUZZ_CHECK(sb.buf[0] == 'x' && sb.buf[sb.len] == '\0');
	if (r != JVAL_OK)
		FUZZ_CHECK(sb.len == 1);
	if (r == JVAL_NULL)
		FUZZ_CHECK(cJSON_IsNull(node));
	if (r == JVAL_OK && cJSON_IsString(node))
		FUZZ_CHECK(strcmp(sb.buf + 1, node->valuestring) == 0);
	if (r == JVAL_OK && (cJSON_IsObject(node) || cJSON_IsArray(node))) {
		/* Compact JSON must read back, and say the same thing again. */
		struct jdoc *d2 = NULL;
		FUZZ_CHECK(jdoc_parse(sb.buf + 1, sb.len - 1, &d2) == 0);
		struct strbuf sb2 = STRBUF_INIT;
		FUZZ_CHECK(jval_to_text(d2, jdoc_root(d2), &sb2) == JVAL_OK);
		FUZZ_CHECK(sb2.len == sb.len - 1 && memcmp(sb2.buf, sb.buf + 1, sb2.len) == 0);
		sb_wipe(&sb2);
		jdoc_free(d2);
	}
	sb_wipe(&sb);
	if (cJSON_IsObject(node) || cJSON_IsArray(node))
		for (const cJSON *c = node->child; c; c = c->next)
			walk(d, c, cJSON_IsObject(node));
}

/* What plan.c reads from a KV answer (v1: data; v2: data.data and
 * data.metadata) and what detect_mount reads from sys/internal/ui/mounts. */
static void envelopes(const struct jdoc *d)
{
	const cJSON *root = jdoc_root(d);
	const cJSON *data = json_get(root, "data");
	const cJSON *inner = json_get(data, "data");
	const cJSON *meta = json_get(data, "metadata");
	(void)json_get_string(data, "path");
	(void)json_get_string(json_get(data, "options"), "version");
	(void)cJSON_IsTrue(json_get(meta, "destroyed"));
	(void)json_get(meta, "version");
	(void)json_get_string(json_get(root, "auth"), "client_token");
	(void)json_get_string(json_get(root, "wrap_info"), "token");
	const cJSON *maps[] = {data, inner};
	for (size_t m = 0; m < 2; m++) {
		const cJSON *f;
		if (!cJSON_IsObject(maps[m]))
			continue;
		cJSON_ArrayForEach(f, maps[m])
		{
			FUZZ_CHECK(f->string != NULL);
			(void)jval_key_has_nul(d, f);
			const cJSON *again = json_get(maps[m], f->string);
			FUZZ_CHECK(again != NULL);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* jdoc_parse wants the text NUL-terminated at len, as a body is. */
	char *text = xmalloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';

	struct jdoc *d = NULL;
	if (jdoc_parse(text, size, &d) == 0) {
		FUZZ_CHECK(d && jdoc_root(d));
		depth_budget = 100000;
		walk(d, jdoc_root(d), 0);
		envelopes(d);
		/* vault_error_message takes a reply; build one around the body.
		 * vault_reply_clear frees both. */
		struct vault_reply rep = {.code = 500, .doc = d, .body = text, .body_len = size};
		const char *m = vault_error_message(&rep);
		if (m)
			FUZZ_CHECK(strlen(m) < size);
		vault_reply_clear(&rep);
	} else {
		FUZZ_CHECK(d == NULL);
		struct vault_reply rep = {.code = 500, .body = text, .body_len = size};
		FUZZ_CHECK(vault_error_message(&rep) == NULL);
		vault_reply_clear(&rep);
	}
	return 0;
}

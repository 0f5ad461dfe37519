/* Logging to stderr, as text or JSON lines.  Messages never carry secret
 * values: callers pass names, paths and field names only. */
#ifndef VAULTEXEC_LOG_H
#define VAULTEXEC_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };
enum log_format { LOG_TEXT = 0, LOG_JSON = 1 };

void log_setup(enum log_level level, enum log_format format);
bool log_enabled(enum log_level level);
/* While on, every message is logged at debug level: the supervisor's
 * retries say once that Vault is away, not once per attempt. */
void log_quiet(bool on);
/* While on, a warning or error already said in the last five minutes is
 * logged at debug level; after that it is said again with how often it
 * came meanwhile.  For a resident process: the same failure at every poll
 * is one line, then a reminder, not a line a second. */
void log_once(bool on);
/* A function that names option NAME (N bytes, after "--") differently in
 * messages: writes the name into out and returns true, or false to keep
 * "--NAME".  vault-env mode says VAULT_ENV_DAEMON where vaultexec says
 * --supervise: its users set variables, not flags. */
typedef bool (*log_rename_fn)(const char *name, size_t n, char *out, size_t outn);
void log_set_rename(log_rename_fn fn);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

/* Logs at error level and exits with code; for out-of-memory and the like. */
_Noreturn void die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif

/* Signal names, as --stop-signal and --reload-signal take them and as the
 * log lines print them: below both cli.c and the supervisor. */
#ifndef VAULTEXEC_SIGNAME_H
#define VAULTEXEC_SIGNAME_H

/* "TERM", "SIGTERM", "sigterm" or a number: the signal, or -1 when it is
 * none that can be sent (KILL and STOP are refused for reloads elsewhere). */
int signal_parse(const char *s);

/* "SIGTERM" for 15; "signal 40" for one without a name (static buffer). */
const char *signal_name(int sig);

#endif

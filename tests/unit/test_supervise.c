/* supervise.c's signal names, as --stop-signal and --reload-signal take
 * them and as the log lines print them. */
#include <signal.h>

#include "supervise.h"
#include "tap.h"

int main(void)
{
	is_int(supervise_parse_signal("TERM"), SIGTERM, "TERM");
	is_int(supervise_parse_signal("SIGHUP"), SIGHUP, "SIGHUP");
	is_int(supervise_parse_signal("sigusr1"), SIGUSR1, "lower case with sig prefix");
	is_int(supervise_parse_signal("Winch"), SIGWINCH, "mixed case");
	is_int(supervise_parse_signal("10"), 10, "a number");
	is_int(supervise_parse_signal("64"), 64, "the last real-time signal");
	is_int(supervise_parse_signal("0"), -1, "0 is no signal");
	is_int(supervise_parse_signal("65"), -1, "past SIGRTMAX");
	is_int(supervise_parse_signal("-1"), -1, "negative");
	is_int(supervise_parse_signal(""), -1, "empty");
	is_int(supervise_parse_signal("SIG"), -1, "the prefix alone");
	is_int(supervise_parse_signal("NOPE"), -1, "unknown name");
	is_int(supervise_parse_signal("TERM "), -1, "trailing space");
	is_str(supervise_signal_name(SIGTERM), "SIGTERM", "name of 15");
	is_str(supervise_signal_name(SIGKILL), "SIGKILL", "name of 9");
	is_str(supervise_signal_name(40), "signal 40", "a real-time signal has no name");
	return tap_done();
}

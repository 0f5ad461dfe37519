/* signame.c: signal names, as --stop-signal and --reload-signal take
 * them and as the log lines print them. */
#include <signal.h>

#include "signame.h"
#include "tap.h"

int main(void)
{
	is_int(signal_parse("TERM"), SIGTERM, "TERM");
	is_int(signal_parse("SIGHUP"), SIGHUP, "SIGHUP");
	is_int(signal_parse("sigusr1"), SIGUSR1, "lower case with sig prefix");
	is_int(signal_parse("Winch"), SIGWINCH, "mixed case");
	is_int(signal_parse("10"), 10, "a number");
	is_int(signal_parse("64"), 64, "the last real-time signal");
	is_int(signal_parse("0"), -1, "0 is no signal");
	is_int(signal_parse("65"), -1, "past SIGRTMAX");
	is_int(signal_parse("-1"), -1, "negative");
	is_int(signal_parse(""), -1, "empty");
	is_int(signal_parse("SIG"), -1, "the prefix alone");
	is_int(signal_parse("NOPE"), -1, "unknown name");
	is_int(signal_parse("TERM "), -1, "trailing space");
	is_str(signal_name(SIGTERM), "SIGTERM", "name of 15");
	is_str(signal_name(SIGKILL), "SIGKILL", "name of 9");
	is_str(signal_name(40), "signal 40", "a real-time signal has no name");
	return tap_done();
}

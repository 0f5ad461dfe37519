# Sourced by the install scripts under tests/: installs those of the named
# Debian packages that are not installed yet, quietly, showing apt's output
# only when it fails.  An apt-get update runs first unless
# APT_SKIP_UPDATE=1 (then it runs only if the install fails).
# shellcheck shell=bash
apt_install_missing() {
	local p missing=() log
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	((${#missing[@]})) || return 0
	export DEBIAN_FRONTEND=noninteractive
	log=$(mktemp)
	if ! {
		{ [[ "${APT_SKIP_UPDATE:-}" == 1 ]] &&
			apt-get install -y -qq --no-install-recommends "${missing[@]}"; } ||
			{ apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; }
	} >"$log" 2>&1; then
		cat "$log" >&2
		rm -f "$log"
		return 1
	fi
	rm -f "$log"
}

# Sourced by scripts/install-llama-server and scripts/install-llama-server-gpu: apt-get against
# Debian testing ("forky") with a private source list and state directory, so the machine's own
# apt configuration is never changed and nothing is installed system-wide.
#
# Before sourcing, set `log_name` (prefix of messages). After sourcing, call
# `forky_apt_init <apt_dir>`; then `apt-get "${apt_options[@]}" …` uses the private state.

readonly forky_suite="forky"
readonly forky_fallback_mirror="http://deb.debian.org/debian"
readonly forky_keyring="/usr/share/keyrings/debian-archive-keyring.gpg"
readonly forky_multiarch="x86_64-linux-gnu"
readonly forky_loader_name="ld-linux-x86-64.so.2"

log() { printf '%s: %s\n' "${log_name}" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# The Debian mirror this machine already uses, so the download goes where apt is allowed to go.
debian_mirror() {
  local uri
  uri="$(
    {
      grep -hsE '^[[:space:]]*deb[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list |
        sed -E 's/\[[^]]*\]//' | awk '{print $2}'
      grep -hsE '^[[:space:]]*URIs:' /etc/apt/sources.list.d/*.sources | sed -E 's/^[[:space:]]*URIs:[[:space:]]*//' |
        tr ' ' '\n'
    } | grep -E '/debian/?$' | grep -v -- '-security' | head -n 1
  )"
  printf '%s\n' "${uri:-${forky_fallback_mirror}}"
}

# Creates the private apt directories under $1, writes the forky source list, sets
# `apt_options` and runs `apt-get update` once.
forky_apt_init() {
  local state_dir="$1" mirror
  [[ "$(dpkg --print-architecture)" == "amd64" ]] || die "only amd64 is supported (this is $(dpkg --print-architecture))"
  [[ -r "${forky_keyring}" ]] || die "${forky_keyring} is missing (apt-get install debian-archive-keyring)"
  mirror="$(debian_mirror)"
  log "using ${mirror} ${forky_suite} (private apt state in ${state_dir})"
  mkdir -p "${state_dir}/etc/sources.list.d" "${state_dir}/etc/preferences.d" "${state_dir}/state/lists/partial" \
    "${state_dir}/cache/archives/partial"
  printf 'deb [signed-by=%s] %s %s main\n' "${forky_keyring}" "${mirror}" "${forky_suite}" >"${state_dir}/etc/sources.list"
  # Empty: apt resolves every dependency from scratch, as for a machine with nothing installed.
  : >"${state_dir}/state/status"
  apt_options=(
    -o "Dir::Etc::SourceList=${state_dir}/etc/sources.list"
    -o "Dir::Etc::SourceParts=${state_dir}/etc/sources.list.d"
    -o "Dir::Etc::Preferences=${state_dir}/etc/preferences"
    -o "Dir::Etc::PreferencesParts=${state_dir}/etc/preferences.d"
    -o "Dir::State=${state_dir}/state"
    -o "Dir::State::status=${state_dir}/state/status"
    -o "Dir::Cache=${state_dir}/cache"
    -o "Debug::NoLocking=true"
    -o "APT::Architecture=amd64"
    -o "APT::Architectures=amd64"
    -o "Acquire::Languages=none"
    # The private directories belong to root; the _apt sandbox user could not write them.
    -o "APT::Sandbox::User=root"
  )
  apt-get "${apt_options[@]}" -qq update || die "apt-get update of ${mirror} ${forky_suite} failed"
}

# Prints "library => not found" lines for every NEEDED entry of the given ELF files that does
# not resolve with the prefix's loader and library path ($1: the prefix's lib dir).
unresolved_libraries() {
  local libs="$1" file
  shift
  for file in "$@"; do
    "${libs}/${forky_loader_name}" --library-path "${libs}/llama:${libs}" --list "${file}" |
      grep 'not found' | sed "s|^|$(basename "${file}"): |" || true
  done
}

# guest-common.sh - sourced by guest test entry points (bash): the checks
# and the temp dir every one of them needs.
#   guest_prereqs BACKEND TOOL...  skip (exit 77) unless QEMU, a kernel, the
#                                  tools and the back end are there
#   guest_tmpdir PREFIX            sets tmp to a fresh dir, removed at exit
#                                  unless VBLK_GUEST_KEEP=1
skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }

guest_prereqs() {
    local backend=$1 t
    shift
    command -v "${QEMU:-qemu-system-x86_64}" >/dev/null || skip "qemu-system-x86_64 not installed"
    ls /boot/vmlinuz-* >/dev/null 2>&1 || [ -n "${VBLK_GUEST_KERNEL:-}" ] || skip "no kernel in /boot"
    for t in "$@"; do
        command -v "$t" >/dev/null || skip "$t not installed"
    done
    case "$backend" in
        qsd)   command -v "${QSD:-qemu-storage-daemon}" >/dev/null || skip "qemu-storage-daemon not installed" ;;
        vblkd) [ -n "${VBLKD:-}" ] && [ -x "${VBLKD}" ] || skip "VBLKD not set or not executable" ;;
        *)     fail "unknown VBLK_GUEST_BACKEND=$backend" ;;
    esac
}

guest_tmpdir() {
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
    trap 'if [ "${VBLK_GUEST_KEEP:-0}" = 1 ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi' EXIT
}

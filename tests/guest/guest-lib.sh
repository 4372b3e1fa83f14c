# guest-lib.sh - what a guest test entry script shares (sourced, bash):
# skip/fail with the suite's exit codes, the host prerequisites of every
# guest boot, and a private temp dir removed at exit (VBLK_GUEST_KEEP=1
# keeps it). New test scripts source it instead of copying the preamble.

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }

# QEMU, a guest kernel and the tools mkinitramfs.sh needs, or exit 77.
guest_prereqs() {
    local t
    command -v "${QEMU:-qemu-system-x86_64}" >/dev/null || skip "qemu-system-x86_64 not installed"
    ls /boot/vmlinuz-* >/dev/null 2>&1 || [ -n "${VBLK_GUEST_KERNEL:-}" ] || skip "no kernel in /boot"
    for t in busybox cpio gcc mke2fs e2fsck; do
        command -v "$t" >/dev/null || skip "$t not installed"
    done
}

# guest_tmpdir TAG: set $tmp to a fresh directory, removed at exit.
guest_tmpdir() {
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/vblk-guest-$1.XXXXXX")
    trap 'if [ "${VBLK_GUEST_KEEP:-0}" = 1 ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi' EXIT
}

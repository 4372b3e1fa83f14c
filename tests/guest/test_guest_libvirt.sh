#!/usr/bin/env bash
# test_guest_libvirt.sh - the README's libvirt domain, end to end (suite 'guest').
#
# Defines and starts, with Debian's libvirt (QEMU driver, TCG), a domain
# whose only disk is <disk type='vhostuser'> on the back end's socket and
# whose RAM is shared memfd memory (vhost-user needs the back end to map
# guest memory). The guest runs the "basic" workload (raw + ext4 I/O,
# workloads/basic.sh); the test requires:
#   - QEMU ran as libvirt-qemu (Debian's default) and reached vblkd's
#     socket through --socket-mode 0660 --socket-group libvirt-qemu;
#   - libvirt turned the XML into a vhost-user-blk-pci device on our socket
#     (its QEMU command line in the domain log);
#   - the guest printed VBLK_GUEST_RESULT=PASS and shut itself down (libvirt
#     reports "shut off (shutdown)");
#   - the back end exits cleanly on SIGTERM;
#   - the image on the host holds what the guest wrote (guest_io
#     plan-verify on the raw region, e2fsck -fn on the guest-made ext4).
#
# libvirt runs without any daemon: the qemu:///embed?root=DIR URI runs the
# QEMU driver inside one virsh process with all its state under DIR (a temp
# dir), configured by DIR/etc/qemu.conf (QEMU as libvirt-qemu or root, no
# security driver, no cgroups, QEMU's output to a file, not to virtlogd). A domain in
# embed mode lives only as long as that virsh process, so one virsh runs
# define, start and, once the guest has powered off, domstate.
# (virt-qemu-run would be shorter, but libvirt 9.0's hangs after the guest
# powers off.)
#
# Environment:
#   VBLK_GUEST_BACKEND  vblkd (default; $VBLKD) | qsd (qemu-storage-daemon
#                       through qsd-as-vblkd.sh)
#   VBLK_GUEST_CACHE    initramfs cache dir (mkinitramfs.sh)
#   VBLK_GUEST_SEED     data seed (default random, printed)
#   VBLK_GUEST_KEEP=1   keep the temp dir
# Exit: 0 pass, 1 fail, 77 skip (no QEMU / kernel / back end / libvirt, or
# libvirt's QEMU driver cannot start here).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
backend=${VBLK_GUEST_BACKEND:-vblkd}
cache=${VBLK_GUEST_CACHE:-${TMPDIR:-/tmp}/vblk-guest-cache-$(id -u)}
# shellcheck source=guest-common.sh
. "$here/guest-common.sh"
guest_prereqs "$backend" busybox cpio gcc mke2fs e2fsck virsh
# QEMU asks for one queue per vCPU (2 here); vblkd's default covers that,
# qemu-storage-daemon's (1) does not. With vblkd, QEMU runs as Debian's
# libvirt-qemu user on a 0660 socket of group libvirt-qemu, as the README
# says; qsd-as-vblkd.sh has no socket options, so there QEMU runs as root.
qemu_user=root sockopts=()
case "$backend" in
    vblkd) bcmd=("$VBLKD") dopts=""
           if getent passwd libvirt-qemu > /dev/null && getent group libvirt-qemu > /dev/null; then
               qemu_user=libvirt-qemu sockopts=(--socket-mode 0660 --socket-group libvirt-qemu)
           fi ;;
    qsd)   bcmd=("$here/qsd-as-vblkd.sh") dopts=",queues=2" ;;
esac

guest_tmpdir vblk-libvirt
root=$tmp/libvirt
sock=$tmp/vu.sock
img=$tmp/disk.img
console=$tmp/console.log
blog=$tmp/backend.log
name=vblk-libvirt-test
uri="qemu:///embed?root=$root"
[ ${#sock} -lt 100 ] || fail "socket path too long: $sock (set TMPDIR shorter)"

bpid="" vpid=""
stop_all() {
    local qpid i
    [ -z "$vpid" ] || kill -TERM "$vpid" 2>/dev/null || true
    # a QEMU left behind by a virsh that was killed (timeout)
    if [ -f "$root/run/qemu/$name.pid" ]; then
        qpid=$(cat "$root/run/qemu/$name.pid")
        kill -KILL "$qpid" 2>/dev/null || true
    fi
    if [ -n "$bpid" ] && kill -0 "$bpid" 2>/dev/null; then
        kill -TERM "$bpid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do kill -0 "$bpid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$bpid" 2>/dev/null || true
    fi
}
trap 'stop_all; if [ "${VBLK_GUEST_KEEP:-0}" = 1 ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi' EXIT

# ------------------------------------------------------------ libvirt's QEMU driver
# QEMU (as $qemu_user) must reach the socket in $tmp; it reads kernel and
# initramfs itself, libvirt opens the console file.
chmod 755 "$tmp"
mkdir -p "$root/etc"
cat > "$root/etc/qemu.conf" <<EOF
user = "$qemu_user"
group = "$qemu_user"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
stdio_handler = "file"
EOF
if ! probe=$(virsh -q -c "$uri" version 2>&1); then
    skip "libvirt's QEMU driver cannot run here (virsh -c qemu:///embed: $(tail -n 1 <<< "$probe"))"
fi

# ------------------------------------------------------------ guest pieces
"$here/mkinitramfs.sh" "$cache"
kernel=$(cat "$cache/kernel.path")
truncate -s 256M "$img"
size=$(stat -c %s "$img")
seed=${VBLK_GUEST_SEED:-$(( (RANDOM << 15) | RANDOM ))}
echo "backend=$backend seed=$seed image=$img qemu-user=$qemu_user"

# ------------------------------------------------------------ back end
setsid "${bcmd[@]}" --socket "$sock" "${sockopts[@]}" --disk "$img$dopts" > "$blog" 2>&1 < /dev/null &
bpid=$!
for ((i = 0; ; i++)); do
    [ -S "$sock" ] && break
    kill -0 "$bpid" 2>/dev/null || { cat "$blog"; fail "back end exited before creating $sock"; }
    [ $i -lt 100 ] || { cat "$blog"; fail "back end did not create $sock within 10 s"; }
    sleep 0.1
done

# ------------------------------------------------------------ the domain (as in the README)
# Two vCPUs: QEMU 7.2's TCG with one vCPU can lose kicks to an external
# back end. on_poweroff/on_reboot destroy: the guest's poweroff or panic
# (panic=-1) ends the domain.
cat > "$tmp/domain.xml" <<EOF
<domain type='qemu'>
  <name>$name</name>
  <memory unit='MiB'>512</memory>
  <vcpu>2</vcpu>
  <memoryBacking>
    <source type='memfd'/>
    <access mode='shared'/>
  </memoryBacking>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>$kernel</kernel>
    <initrd>$cache/initramfs.cpio.gz</initrd>
    <cmdline>console=ttyS0 panic=-1 quiet vblk_script=basic vblk_seed=$seed vblk_size=$size</cmdline>
  </os>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <disk type='vhostuser' device='disk'>
      <driver name='qemu' type='raw'/>
      <source type='unix' path='$sock'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <serial type='file'>
      <source path='$console'/>
      <target port='0'/>
    </serial>
    <memballoon model='none'/>
  </devices>
</domain>
EOF

# ------------------------------------------------------------ run it
# One virsh reads its commands from a FIFO, so the test can watch the
# domain between them: define + start, then wait until QEMU's pid file
# (DIR/run/qemu/NAME.pid) has come and gone (or virsh reported an error),
# then ask how the domain ended.
t0=$SECONDS
mkfifo "$tmp/virsh.in"
timeout -k 10 200 virsh -c "$uri" < "$tmp/virsh.in" > "$tmp/virsh.out" 2> "$tmp/virsh.err" &
vpid=$!
exec 3> "$tmp/virsh.in"
echo "define $tmp/domain.xml" >&3
echo "start $name" >&3
pidfile=$root/run/qemu/$name.pid
seen="" verr="" ran_as=""
for ((i = 0; i < 1800; i++)); do
    grep -q 'error:' "$tmp/virsh.err" && { verr=1; break; }
    kill -0 "$vpid" 2>/dev/null || break
    if [ -f "$pidfile" ]; then
        [ -n "$seen" ] || ran_as=$(stat -c %U "/proc/$(cat "$pidfile")" 2>/dev/null || true)
        seen=1
    elif [ -n "$seen" ]; then
        break
    fi
    sleep 0.1
done
echo "domstate $name --reason" >&3
echo quit >&3
exec 3>&-
vrc=0
wait "$vpid" || vrc=$?
vpid=""
cat "$tmp/virsh.out" "$tmp/virsh.err" > "$tmp/virsh.log"
[ -z "$verr" ] || { cat "$tmp/virsh.log"; cat "$root/log/qemu/$name.log" 2>/dev/null || true; fail "virsh reported an error"; }
[ -n "$seen" ] || { cat "$tmp/virsh.log"; fail "libvirt never started QEMU (no $pidfile)"; }
[ "$ran_as" = "$qemu_user" ] || fail "QEMU ran as '$ran_as', not as $qemu_user"
echo "libvirt run: $((SECONDS - t0)) s (virsh exit $vrc)"
qlog=$root/log/qemu/$name.log
show() {
    echo "------------------------------------------------ virsh"; cat "$tmp/virsh.log"
    echo "------------------------------------------------ QEMU log"; cat "$qlog" 2>/dev/null || true
    echo "------------------------------------------------ console"; tr -d '\r' < "$console" 2>/dev/null || true
    echo "------------------------------------------------ back end"; cat "$blog"
}

{ grep -q "vhost-user-blk-pci" "$qlog" 2>/dev/null && grep -qF "path=$sock" "$qlog"; } ||
    { show; fail "libvirt did not start QEMU with a vhost-user-blk-pci device on $sock"; }
tr -d '\r' < "$console" 2>/dev/null | grep -aq '^VBLK_GUEST_RESULT=PASS' ||
    { show; fail "the guest did not report VBLK_GUEST_RESULT=PASS"; }
grep -q '^shut off (shutdown)' "$tmp/virsh.log" ||
    { show; fail "libvirt does not report the domain as shut down by the guest"; }
echo "guest: $(grep -a -m1 'VBLK_GUEST_BEGIN' "$console" | tr -d '\r')"

# ------------------------------------------------------------ back end exit
kill -TERM "$bpid"
brc=0
wait "$bpid" || brc=$?
bpid=""
[ "$brc" -eq 0 ] || { cat "$blog"; fail "back end exited with status $brc on SIGTERM"; }

# ------------------------------------------------------------ host checks
echo "host: raw region check"
"$cache/guest_io.host" plan-verify -s "$seed" -r buffered -z basic "$img" ||
    fail "raw region of the image does not hold the data the guest wrote"
echo "host: e2fsck -fn"
e2fsck -fn "$img" > "$tmp/fsck.log" 2>&1 || { cat "$tmp/fsck.log"; fail "e2fsck found problems in the guest-made ext4"; }

echo "PASS: guest-libvirt ($backend, seed $seed) in $((SECONDS - t0)) s"

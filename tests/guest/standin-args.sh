# SPDX-License-Identifier: MIT
# Sourced (bash) by the scripts that stand in for vblkd in the guest harness
# (qsd-as-vblkd.sh, vblkd-over-nbd.sh, tests/rbd/over-rbd.sh): they take the
# command line run-guest.sh gives vblkd,
#     --socket SOCK --disk IMG[,OPTS]
# standin_args NAME "$@" parses it into sock, disk, img (IMG) and opts
# (",OPTS", or "" without options); anything else exits 2 with a message
# that starts with NAME, or with the usage line.
standin_args() {
    local name=$1
    shift
    sock="" disk=""
    while [ $# -gt 0 ]; do
        case "$1" in
            --socket) sock=$2; shift 2 ;;
            --disk)   disk=$2; shift 2 ;;
            *) echo "$name: unknown argument $1" >&2; exit 2 ;;
        esac
    done
    [ -n "$sock" ] && [ -n "$disk" ] ||
        { echo "usage: $0 --socket SOCK --disk IMG[,OPTS]" >&2; exit 2; }
    img=${disk%%,*}
    opts=""
    [ "$img" = "$disk" ] || opts=,${disk#*,}
}

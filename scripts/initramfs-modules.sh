# Sourced by demo/mk-guest.sh and scripts/l1-run.sh.
#
# add_modules KVER ROOT LIST MODULE...: copy the modules MODULE... of
# kernel KVER and what they depend on into ROOT/lib/modules (decompressed),
# in load order, and append their names to ROOT/lib/modules/LIST; those
# already in ROOT/lib/modules/order are left out.
add_modules() {
    local kver=$1 root=$2 list=$3 f m
    shift 3
    for f in $(modprobe -S "$kver" -a --show-depends "$@" |
               awk '$1 == "insmod" { print $2 }' | awk '!seen[$0]++'); do
        m=$(basename "$f"); m=${m%%.ko*}
        grep -qsx "$m" "$root/lib/modules/order" && continue
        case "$f" in
        *.xz) xz -dc "$f" > "$root/lib/modules/$m.ko" ;;
        *.zst) zstd -qdc "$f" > "$root/lib/modules/$m.ko" ;;
        *) cp "$f" "$root/lib/modules/$m.ko" ;;
        esac
        echo "$m" >> "$root/lib/modules/$list"
    done
}

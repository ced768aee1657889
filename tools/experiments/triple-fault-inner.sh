#!/bin/sh
# triple-fault-inner.sh AMBER DIR ROUNDS C  -- runs inside tools/kvm-sandbox.sh
# (busybox sh). Each round runs a batch of C concurrent *fresh boots* and a
# batch of C concurrent *resumes* of one image of the same guest (order
# alternating by round), each VM running the same memory and disk load as
# its first command. Counts, per kind, the VMs that finished, that
# triple-faulted, and that failed otherwise. DIR holds bzImage, ci.cpio.gz
# and disk.img (guest-tests/ci). Prints "RESULT kind ok tf other".
set -u
amber=$1 dir=$2 rounds=${3:-3} c=${4:-5}
work=/tmp/amber-tf
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
cp "$dir/disk.img" disk.img
"$amber" run --kernel "$dir/bzImage" --initrd "$dir/ci.cpio.gz" --mem 256M --disk disk.img \
  --cmdline quiet --save "$work/img.amber" --then exit </dev/null >boot.out 2>boot.err || {
  echo "image boot failed"; tail -5 boot.err; exit 1; }

# One VM: $1 = fresh|resumed, $2 = id. The load: 16 MiB written to tmpfs
# and checksummed, then 4 MiB to the disk and read back.
vm() {
  kind=$1 id=$2
  rm -f "in.$id"; mkfifo "in.$id"
  if [ "$kind" = fresh ]; then
    cp "$dir/disk.img" "disk.$id"
    # Without --save the guest's own save request fails and it goes on.
    "$amber" run --kernel "$dir/bzImage" --initrd "$dir/ci.cpio.gz" --mem 256M --disk "disk.$id" \
      --cmdline quiet <"in.$id" >"out.$id" 2>"err.$id" &
  else
    "$amber" resume img.amber <"in.$id" >"out.$id" 2>"err.$id" &
  fi
  pid=$!
  exec 4>"in.$id"
  t=0
  while ! grep -q 'amber# ' "out.$id" 2>/dev/null && [ $t -lt 300 ]; do printf '\n' >&4; sleep 1; t=$((t + 1)); done
  printf 'dd if=/dev/urandom of=/tmp/s bs=1M count=16 2>/dev/null; md5sum /tmp/s >/dev/null; ' >&4
  printf '[ -d /mnt ] && dd if=/dev/urandom of=/mnt/s bs=1M count=4 2>/dev/null; sync; echo load-$((6*7))-done\n' >&4
  t=0
  while ! grep -q 'load-42-done' "out.$id" 2>/dev/null && [ $t -lt 300 ] && kill -0 $pid 2>/dev/null; do
    sleep 1; t=$((t + 1)); done
  printf 'exit\n' >&4
  ( sleep 120; kill -9 $pid 2>/dev/null ) &
  killer=$!
  wait $pid
  echo $? >"rc.$id"
  kill $killer 2>/dev/null
  exec 4>&-
}

batch() {  # kind round
  i=1
  while [ $i -le "$c" ]; do vm "$1" "$1-$2-$i" & i=$((i + 1)); done
  wait
  i=1
  while [ $i -le "$c" ]; do
    id="$1-$2-$i"
    if grep -q 'triple fault' "err.$id"; then echo "TF $id"; echo tf >>"tally.$1"
    elif grep -q 'load-42-done' "out.$id" && [ "$(cat "rc.$id")" = 0 ]; then echo ok >>"tally.$1"
    else echo "OTHER $id rc=$(cat "rc.$id")"; tail -c 300 "out.$id"; tail -2 "err.$id"; echo other >>"tally.$1"; fi
    rm -f "disk.$id"
    i=$((i + 1))
  done
}

r=1
while [ $r -le "$rounds" ]; do
  if [ $((r % 2)) = 1 ]; then batch fresh $r; batch resumed $r; else batch resumed $r; batch fresh $r; fi
  echo "round $r done"
  r=$((r + 1))
done
for k in fresh resumed; do
  echo "RESULT $k ok=$(grep -c ok "tally.$k") tf=$(grep -c tf "tally.$k") other=$(grep -c other "tally.$k")"
done

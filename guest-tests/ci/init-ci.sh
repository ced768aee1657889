#!/bin/sh
# ci: the guest of guest-tests/ci/ci-workflow.sh. Boots, mounts /dev/vda on
# /mnt when it holds an ext4, keeps amber.token= in /tmp/token (guest RAM),
# then asks the VMM for a save itself (amber-guest-save rings the UART OUT1
# doorbell) and serves an interactive shell (prompt "amber# "). Every resume
# of the image starts inside that save request, so each one re-seeds its
# kernel CRNG there (docs/entropy.md; amber.reseed=0 on the command line
# skips that, for experiments) and gets a fresh shell. Shell exit ->
# AMBER-DONE, reboot.
# shellcheck source=../linux/init/lib.sh
. /lib.sh
amber_mount_basics
amber_mount_disk
if token=$(amber_param amber.token); then
  echo "$token" >/tmp/token
  amber_result token "$token"
fi
# A CI image is taken once the kernel CRNG is initialized (what services
# that need randomness wait for anyway). Reading /dev/random blocks until
# then; Linux 6.1 gathers timer jitter meanwhile (try_to_generate_entropy).
# So every clone starts from the same initialized CRNG key: the case the
# re-seed in amber-guest-save exists for.
head -c 1 /dev/random >/dev/null
amber_marker AMBER-READY
reseed=
[ "$(amber_param amber.reseed)" = 0 ] && reseed=--no-reseed
/bin/amber-guest-save $reseed || amber_result save_request failed
amber_marker AMBER-RESUMED
amber_shell
[ "$mounted" = 1 ] && umount /mnt
amber_done

# tools/sandbox/output-filter.awk - the host side of L1's output port
# (tools/kvm-sandbox.sh): strips CRs, prints the command's output live, and
# stops at the end marker, writing the status that follows it to rcfile.
# Variables: marker (the per-run end marker), rcfile (where the status goes).
{
    sub(/\r$/, "")
    if (done) next
    i = index($0, marker)
    if (i) {
        printf "%s", substr($0, 1, i - 1); fflush()
        rc = substr($0, i + length(marker)); sub(/@@.*/, "", rc)
        print rc + 0 > rcfile; close(rcfile)
        done = 1; next
    }
    print; fflush()
}
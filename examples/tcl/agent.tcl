# agent.tcl: a small sguil-style agent. It opens a store handle, extracts the flow given on the
# command line into a CapMe-like archive, and prints the summary, one "key value" line per key.
#
#   tclsh agent.tcl -store /nsm/sensor_data ?-store DIR ...? -archive /nsm/capme-archive \
#       -sip 10.10.5.10 -spt 52001 -dip 10.10.5.20 -dpt 22 -proto tcp \
#       -stime 1718407577 -etime 1718407578 ?-force 1?
#
# (or -communityid ID instead of -sip/-spt/-dip/-dpt/-proto). It exits as the capme CLI does:
# 0 done, 1 no packets, 2 invalid input, 3 any other error, with the message on stderr.
# The package is found on auto_path: after `make -C capme-c install-tcl`, or with
# TCLLIBPATH=<target>/release/capme-c/tcl. capme-c/scripts/test.sh runs it on the sample store.
package require Tcl 8.6
package require capme

proc usage {} {
    puts stderr "usage: tclsh agent.tcl -store DIR ?-store DIR ...? -archive DIR\
        (-sip IP -spt PORT -dip IP -dpt PORT ?-proto PROTO? | -communityid ID)\
        -stime TIME -etime TIME ?-force BOOL?"
    exit 2
}

set stores {}
set archive ""
set force 0
set query {}
if {[llength $argv] % 2} usage
foreach {opt value} $argv {
    switch -- $opt {
        -store { lappend stores -store $value }
        -archive { set archive $value }
        -force { set force $value }
        -sip - -spt - -dip - -dpt - -proto - -communityid - -stime - -etime {
            lappend query $opt $value
        }
        default usage
    }
}
if {$archive eq "" || [llength $stores] == 0} usage

# A long-running agent opens the handle once and serves every request with it.
if {[catch {
    capme::store sensors {*}$stores
    try {
        sensors extract {*}$query -archive $archive -force $force
    } finally {
        sensors close
    }
} summary opts]} {
    # -errorcode is {CAPME kind}: invalid io format store cancelled nopackets.
    set code [dict get $opts -errorcode]
    set kind [expr {[lindex $code 0] eq "CAPME" ? [lindex $code 1] : ""}]
    puts stderr "capme: $summary"
    exit [switch -- $kind { nopackets {expr 1} invalid {expr 2} default {expr 3} }]
}
dict for {key value} $summary {
    puts "$key $value"
}

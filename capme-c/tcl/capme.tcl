# capme.tcl: capme::extract and capme::packets, one-call procs over a store handle
# (`capme::store NAME ...`, capme_tcl.c). Loaded by [package require capme] (pkgIndex.tcl sources
# it after loading the extension). A program making several calls on one store opens a handle
# once instead:
#
#   capme::store st -store /nsm/sensor_data
#   st extract -sip ... -stime ... -etime ... -out flow.pcap
#   st packets -sip ... -stime ... -etime ... -var p { puts [dict get $p caplen] }
#   st transcript -url https://so/capme/index.php?sip=... -style capme
#   st close

namespace eval ::capme {
    namespace export extract packets transcript store communityid
}
namespace eval ::capme::impl {
    variable seq 0
}

# capme::impl::options args names flags
#
# Parses `-option value` pairs (options in `flags` take no value) against `names`, with the
# messages of Tcl_GetIndexFromObj (unique prefixes accepted). Returns a dict option -> value
# (-store -> the list of every -store value; a flag -> 1). Errors are {CAPME invalid}.
proc ::capme::impl::options {argv names flags} {
    set d {}
    for {set i 0} {$i < [llength $argv]} {incr i} {
        if {[catch {tcl::prefix match -message option $names [lindex $argv $i]} opt]} {
            return -code error -level 2 -errorcode {CAPME invalid} $opt
        }
        if {$opt in $flags} {
            dict set d $opt 1
            continue
        }
        if {$i + 1 >= [llength $argv]} {
            return -code error -level 2 -errorcode {CAPME invalid} \
                "value for \"[lindex $argv $i]\" missing"
        }
        set value [lindex $argv [incr i]]
        if {$opt eq "-store"} {
            dict lappend d -store $value
        } else {
            dict set d $opt $value
        }
    }
    return $d
}

# capme::impl::handle stores -> a new store handle (closed by the caller).
proc ::capme::impl::handle {stores} {
    variable seq
    set args {}
    foreach s $stores { lappend args -store $s }
    return [::capme::store ::capme::impl::handle[incr seq] {*}$args]
}

# capme::impl::query opts -> the query options of a parsed options dict, as a list.
proc ::capme::impl::query {opts} {
    return [dict remove $opts -store -out -archive -force -limit]
}

# The query options every proc takes (QUERY in the usage messages below): a 5-tuple or a
# Community ID with -stime/-etime, -url, or -zeek-uid with -zeek-logs; -pad and -whole-flow.
namespace eval ::capme::impl {
    variable queryOptions {-sip -spt -dip -dpt -proto -communityid -stime -etime -url -zeek-uid
        -zeek-logs -pad -whole-flow}
    variable queryUsage "((-sip IP -spt PORT -dip IP -dpt PORT ?-proto PROTO? | -communityid ID)\
        -stime TIME -etime TIME | -url URL ?-stime TIME -etime TIME? | -zeek-uid UID -zeek-logs\
        DIR) ?-pad SECS? ?-whole-flow BOOL?"
}

# capme::extract -store DIR ?-store DIR ...? QUERY (-out FILE | -archive DIR) ?-force?
#
# Writes the flow's packets to FILE (pcap) or into the archive under DIR and returns the summary
# dict (the keys of `capme extract --json`), as `NAME extract` on a handle over the stores.
proc ::capme::extract {args} {
    set usage "wrong # args: should be \"capme::extract -store DIR ?-store DIR ...?\
        $impl::queryUsage (-out FILE | -archive DIR) ?-force?\""
    if {[llength $args] == 0} {
        return -code error -errorcode {CAPME invalid} $usage
    }
    set o [impl::options $args [list -store {*}$impl::queryOptions -out -archive -force] {-force}]
    if {[dict exists $o -out] == [dict exists $o -archive]} {
        return -code error -errorcode {CAPME invalid} "exactly one of -out FILE or -archive DIR is required"
    }
    # -force: with -out, replace an existing regular file; with -archive, rescan.
    set dest [expr {[dict exists $o -out] ? [list -out [dict get $o -out]]
                    : [list -archive [dict get $o -archive]]}]
    lappend dest -force [dict exists $o -force]
    set h [impl::handle [expr {[dict exists $o -store] ? [dict get $o -store] : {}}]]
    try {
        return [$h extract {*}[impl::query $o] {*}$dest]
    } finally {
        $h close
    }
}

# capme::packets -store DIR ?-store DIR ...? QUERY ?-limit N?
#
# Returns the matched packets in timestamp order (at most N with -limit) as a list of packet
# dicts (ts ts_ns caplen orig_len linktype sensor file data). No match is an empty list. For
# long flows stream with `NAME packets ... SCRIPT` on a handle instead.
proc ::capme::packets {args} {
    if {[llength $args] == 0} {
        return -code error -errorcode {CAPME invalid} "wrong # args: should be \"capme::packets\
            -store DIR ?-store DIR ...? $impl::queryUsage ?-limit N?\""
    }
    set o [impl::options $args [list -store {*}$impl::queryOptions -limit] {}]
    set limit -1
    if {[dict exists $o -limit]} {
        set limit [dict get $o -limit]
        if {![string is entier -strict $limit] || $limit < 0} {
            return -code error -errorcode {CAPME invalid} \
                "invalid limit \"$limit\": expected an integer >= 0"
        }
    }
    set h [impl::handle [expr {[dict exists $o -store] ? [dict get $o -store] : {}}]]
    set result {}
    try {
        $h packets {*}[impl::query $o] -var p {
            if {[llength $result] == $limit} break
            lappend result $p
        }
    } finally {
        $h close
    }
    return $result
}

# capme::transcript -store DIR ?-store DIR ...? QUERY ?-style capme|plain|json? ?-maxtx N?
#
# Returns the transcript of the flow, as `NAME transcript` on a handle over the stores: the
# text for -style capme (sguil's xscript layout) or plain (the default); for -style json a
# list of segment dicts (direction ts ts_ns offset payload, payload the raw bytes).
proc ::capme::transcript {args} {
    if {[llength $args] == 0} {
        return -code error -errorcode {CAPME invalid} "wrong # args: should be\
            \"capme::transcript -store DIR ?-store DIR ...? $impl::queryUsage\
            ?-style capme|plain|json? ?-maxtx N?\""
    }
    set o [impl::options $args [list -store {*}$impl::queryOptions -style -maxtx] {}]
    set h [impl::handle [expr {[dict exists $o -store] ? [dict get $o -store] : {}}]]
    try {
        return [$h transcript {*}[impl::query $o]]
    } finally {
        $h close
    }
}

# capme::sguil: a drop-in for the tcpdump step of sguil's pcap_agent.tcl (rawDataRequest), and
# the transcript sguil's xscript window showed (xscript).
#
# sguild asks pcap_agent for the packets of one connection with
#   RawDataRequest socketID TRANS_ID sensor timestamp srcIP dstIP srcPort dstPort proto rawDataFileName type
# and pcap_agent's CreateRawDataFile ran `tcpdump -r` with a host/port/proto filter over the
# snort.log.* file of that day that held the timestamp, wrote $TMP_DIR/$rawDataFileName and
# returned its path (or "error"). capme::sguil::rawDataRequest writes the same file (same name,
# pcap format) with capme: exact time window, any VLAN stack, IPv6, fragments. See
# capme-c/README.md ("sguil drop-in") for the two-line change in pcap_agent.tcl.
#
# Loaded by [package require capme] (pkgIndex.tcl sources it after loading the extension).

namespace eval ::capme::sguil {
    # The root of the sensors' capture stores. The store searched for sensor S is
    # [file join $store S], Security Onion's /nsm/sensor_data/S/dailylogs/YYYY-MM-DD/snort.log.*
    variable store /nsm/sensor_data
    # The window searched around the event's timestamp, in seconds: from timestamp - before to
    # timestamp + after (inclusive; the end covers its whole second). sguil sends the time of
    # the event (an alert inside the connection, or the session's start), so the window reaches
    # back as well as forward. Ten minutes each way by default; narrow it when 5-tuples are
    # reused often, widen it for long connections.
    variable before 600
    variable after 600
    # Where a relative rawDataFileName is written: this directory if not empty, else
    # pcap_agent.tcl's global TMP_DIR if it exists, else /tmp.
    variable tmpdir ""
    # Numbers the store handles of the requests.
    variable seq 0

    namespace export rawDataRequest xscript
}

# capme::sguil::window timestamp -> {stime etime}: the window around sguil's event time
# ("YYYY-MM-DD HH:MM:SS" UTC, or epoch seconds), `before` and `after` seconds each way.
proc ::capme::sguil::window {timestamp} {
    variable before
    variable after
    set ts [string trim $timestamp]
    if {[string is entier -strict $ts]} {
        set epoch $ts
    } elseif {[catch {clock scan $ts -format {%Y-%m-%d %H:%M:%S} -gmt 1} epoch]} {
        return -code error -level 2 -errorcode {CAPME invalid} \
            "invalid timestamp \"$timestamp\": expected \"YYYY-MM-DD HH:MM:SS\" (UTC) or epoch seconds"
    }
    return [list [expr {$epoch - $before}] [expr {$epoch + $after}]]
}

# capme::sguil::sensorStore sensor -> the store root of a sensor ({CAPME invalid} for a name
# that is not one).
proc ::capme::sguil::sensorStore {sensor} {
    variable store
    if {$sensor eq "" || [file pathtype $sensor] ne "relative" || [string match *..* $sensor]} {
        return -code error -level 2 -errorcode {CAPME invalid} "invalid sensor \"$sensor\": expected a sensor name"
    }
    return [file join $store $sensor]
}

# capme::sguil::rawDataRequest sensor timestamp srcIP dstIP srcPort dstPort proto rawDataFileName
#
# Writes the packets of the connection (either direction) between timestamp - before and
# timestamp + after to rawDataFileName (pcap) and returns the path written. timestamp is sguil's
# "YYYY-MM-DD HH:MM:SS" (UTC) or epoch seconds; proto an IP protocol number (6, 17, ...) or name.
# Empty ports are omitted (protocols without ports). Errors are Tcl errors with -errorcode
# {CAPME kind} as a store handle's (nopackets when nothing matched: then no file is written).
proc ::capme::sguil::rawDataRequest {sensor timestamp srcIP dstIP srcPort dstPort proto rawDataFileName} {
    variable store
    variable before
    variable after
    variable tmpdir

    lassign [window $timestamp] stime etime
    set root [sensorStore $sensor]
    set cmd [list -sip $srcIP -dip $dstIP -stime $stime -etime $etime]
    if {$proto ne ""} { lappend cmd -proto $proto }
    if {$srcPort ne ""} { lappend cmd -spt $srcPort }
    if {$dstPort ne ""} { lappend cmd -dpt $dstPort }

    set path $rawDataFileName
    if {[file pathtype $path] eq "relative"} {
        if {$tmpdir ne ""} {
            set dir $tmpdir
        } elseif {[info exists ::TMP_DIR]} {
            set dir $::TMP_DIR
        } else {
            set dir /tmp
        }
        set path [file join $dir $path]
    }
    variable seq
    set h [::capme::store ::capme::sguil::handle[incr seq] -store $root]
    try {
        # pcap_agent rewrites its raw file for every request, as tcpdump -w did.
        $h extract {*}$cmd -out $path -force 1
    } finally {
        $h close
    }
    return $path
}

# capme::sguil::xscript sensor timestamp srcIP srcPort dstIP dstPort
#
# Returns what sguil's transcript (xscript) window showed for the TCP connection: the
# arguments of sguild's `XscriptRequest socketID sensor sensorID winID timestamp srcIP srcPort
# dstIP dstPort force` that name the connection (sguild then fetched the pcap with
# RawDataRequest, proto 6, and ran tcpflow over it), the same window as rawDataRequest
# (timestamp - before to timestamp + after), and the result is capme's "capme" style: the
# `HDR:` lines (Sensor Name, Timestamp, Connection ID, Src IP, Dst IP, Src Port, Dst Port),
# then the `SRC:`/`DST:` lines, `HDR: No Data Sent.` for a connection without payload. Errors
# are as rawDataRequest's ({CAPME nopackets} when nothing matched).
proc ::capme::sguil::xscript {sensor timestamp srcIP srcPort dstIP dstPort} {
    variable seq
    lassign [window $timestamp] stime etime
    set root [sensorStore $sensor]
    set h [::capme::store ::capme::sguil::handle[incr seq] -store $root]
    try {
        return [$h transcript -sip $srcIP -spt $srcPort -dip $dstIP -dpt $dstPort -proto 6 \
            -stime $stime -etime $etime -style capme]
    } finally {
        $h close
    }
}

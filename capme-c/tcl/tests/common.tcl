# Shared setup of the capme test files (sourced by each; safe to source twice).
package require tcltest 2.5
namespace import -force ::tcltest::*
package require capme

namespace eval ::capmeTest {
    variable here [file dirname [file normalize [info script]]]
    variable store [file normalize [file join $here .. .. .. examples data store]]
    if {[info exists ::env(CAPME_SAMPLE_STORE)]} { variable store $::env(CAPME_SAMPLE_STORE) }
    # The QinQ flow of examples/data/manifest.json: 15 packets, 3776 bytes.
    variable qinq [list -sip 10.10.5.10 -spt 52001 -dip 10.10.5.20 -dpt 22]
    variable window [list -stime 1718407577 -etime 1718407578]
    variable cli [expr {[info exists ::env(CAPME_CLI)] ? $::env(CAPME_CLI) : ""}]
}
testConstraint cli [expr {$::capmeTest::cli ne ""}]

# The error code and message of a script, as {errorcode message}.
proc ::capmeTest::err {script} {
    if {![catch {uplevel 1 $script} msg opts]} {
        return [list ok $msg]
    }
    return [list [dict get $opts -errorcode] $msg]
}

# The number of records and the magic of a pcap file.
proc ::capmeTest::pcapInfo {path} {
    set f [open $path rb]
    set d [read $f]
    close $f
    binary scan $d H8 magic
    set order [expr {$magic in {d4c3b2a1 4d3cb2a1} ? "iu" : "Iu"}]
    set off 24
    set n 0
    while {$off < [string length $d]} {
        binary scan $d @[expr {$off + 8}]$order incl
        incr off [expr {16 + $incl}]
        incr n
    }
    return [list $magic $n [expr {$off == [string length $d]}]]
}

proc ::capmeTest::slurp {path} {
    set f [open $path rb]
    set d [read $f]
    close $f
    return $d
}

# The message the capme CLI prints for the same extract options (without "capme: ").
proc ::capmeTest::cliMessage {args} {
    variable cli
    set map {-store --store -sip --sip -spt --spt -dip --dip -dpt --dpt -proto --proto
             -communityid --community-id -stime --stime -etime --etime -out -o -archive --archive}
    set cmd [list $cli extract]
    foreach a $args { lappend cmd [expr {[dict exists $map $a] ? [dict get $map $a] : $a}] }
    catch {exec {*}$cmd} out
    set line ""
    foreach l [split $out \n] {
        if {[string match "capme: *" $l] && ![string match "capme: warning: *" $l]} { set line $l }
    }
    return [regsub {^capme: } $line {}]
}

# Runs every *.test file of this directory in one interpreter and exits non-zero when a test
# failed, a test file could not be run, or no test ran (tcltest itself always exits 0).
#
#   CAPME_TCL_DIR=<dir with pkgIndex.tcl> tclsh all.tcl ?tcltest options?
#
# Optional: CAPME_CLI=<path of the capme binary> also compares error messages with the CLI's.
package require Tcl 8.6
package require tcltest 2.5

set here [file dirname [file normalize [info script]]]
if {[info exists env(CAPME_TCL_DIR)]} {
    set auto_path [linsert $auto_path 0 [file normalize $env(CAPME_TCL_DIR)]]
}

namespace eval ::capmeSuite {
    variable failed 0
    variable total 0
    variable crashed {}
}

# Called by every cleanupTests (each file's, then the final one) before the counters reset.
proc ::tcltest::cleanupTestsHook {} {
    variable numTests
    set ::capmeSuite::failed [expr {max($::capmeSuite::failed, $numTests(Failed))}]
    set ::capmeSuite::total [expr {max($::capmeSuite::total, $numTests(Total))}]
    # runAllTests -> cleanupTests -> this hook: runAllTests keeps the files that raised errors.
    if {[info level] >= 3 && [uplevel 2 {info exists testFileFailures}]} {
        set ::capmeSuite::crashed [uplevel 2 {set testFileFailures}]
    }
}

# Temporary files go to a fresh directory, removed at the end.
set tmpbase [expr {[info exists env(TMPDIR)] ? $env(TMPDIR) : "/tmp"}]
set tmpdir [file join $tmpbase capme-tcltest-[pid]-[clock milliseconds]]
file mkdir $tmpdir
tcltest::configure -testdir $here -tmpdir $tmpdir -singleproc 1 -verbose {body error} {*}$argv
tcltest::runAllTests
file delete -force $tmpdir

set f $::capmeSuite::failed
set t $::capmeSuite::total
set c $::capmeSuite::crashed
if {$f > 0 || $t == 0 || [llength $c] > 0} {
    puts "capme Tcl suite: FAILED ($t tests, $f failed[expr {[llength $c] ? ", test files with errors: $c" : ""}])"
    exit 1
}
puts "capme Tcl suite: $t tests passed"
exit 0

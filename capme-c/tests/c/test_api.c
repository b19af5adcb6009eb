/*
 * test_api.c: exercises the whole C API of capme on the bundled sample store.
 *
 * usage: test_api STORE_DIR TMP_DIR BIG_STORE_DIR INDEX_DIR
 * (BIG_STORE_DIR: 10,000 records matching nothing, and a truncated capture file; INDEX_DIR: flow
 * indexes of STORE_DIR built by tests/c_api.rs with capme-core)
 *
 * It checks what it can know by itself (the QinQ flow of examples/data/manifest.json has 15
 * packets and 3776 bytes; statuses of bad input; no file left on CAPME_NO_PACKETS...) and prints
 * machine-readable lines that tests/c_api.rs compares with the Rust API:
 *   P <ts_ns> <caplen> <orig_len> <linktype> <sensor> <file> <hex bytes>   (one per packet)
 *   J <json of capme_extract_to_file>
 *   A <label> <json of capme_extract_to_archive>
 *   E <label> <kind> <message>                                          (one per error case)
 *   C <label> <community id>
 *   W <json of an extraction with a warning>, WM <its warning>
 *   T <style> <hex of capme_transcript's text>, S <direction> <ts_ns> <offset> <hex payload>
 * It exits 1 (after printing "FAIL ..." lines) when a check fails, and frees everything it
 * allocates, so that a valgrind run reports no leak.
 */
#include "capme.h"

#include <dirent.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int failures = 0;

#define CHECK(cond, ...)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            failures++;                                                                   \
            printf("FAIL line %d: %s: ", __LINE__, #cond);                                \
            printf(__VA_ARGS__);                                                          \
            printf(" (last error: %s)\n", capme_last_error());                            \
        }                                                                                 \
    } while (0)

#define SIP "10.10.5.10"
#define SPT "52001"
#define DIP "10.10.5.20"
#define DPT "22"
#define STIME "1718407577"
#define ETIME "1718407578"

static void report_error(const char *label, capme_status st) {
    printf("E %s %s %s\n", label, capme_status_kind((int)st), capme_last_error());
}

/* Iterates a query, printing P lines when `print`; returns the packet count, adds the bytes. */
static long run_search(const capme_store *store, const capme_query *q, int print, uint64_t *bytes) {
    capme_search *s = NULL;
    capme_status st = capme_search_new(store, q, &s);
    CHECK(st == CAPME_OK && s != NULL, "capme_search_new: %s", capme_status_kind((int)st));
    if (st != CAPME_OK) return -1;
    long n = 0;
    capme_packet p;
    int64_t prev = INT64_MIN;
    while ((st = capme_search_next(s, &p)) == CAPME_OK) {
        n++;
        *bytes += p.caplen;
        CHECK(p.ts_ns >= prev, "packets in timestamp order");
        prev = p.ts_ns;
        CHECK(p.data != NULL && p.caplen > 0 && p.orig_len >= p.caplen, "packet %ld shape", n);
        CHECK(p.sensor != NULL && p.file != NULL, "packet %ld names", n);
        if (print) {
            printf("P %" PRId64 " %u %u %u %s %s ", p.ts_ns, p.caplen, p.orig_len, p.linktype,
                   p.sensor, p.file);
            for (uint32_t i = 0; i < p.caplen; i++) printf("%02x", p.data[i]);
            printf("\n");
        }
    }
    CHECK(st == CAPME_DONE, "search ends with CAPME_DONE, got %s", capme_status_kind((int)st));
    CHECK(p.data == NULL && p.caplen == 0, "packet zeroed at the end");
    /* After the end, it stays done. */
    CHECK(capme_search_next(s, &p) == CAPME_DONE, "done stays done");
    capme_search_free(s);
    return n;
}

static void test_search(const capme_store *store) {
    capme_query *q = NULL;
    capme_status st = capme_query_new_tuple(SIP, SPT, DIP, DPT, "tcp", STIME, ETIME, &q);
    CHECK(st == CAPME_OK && q != NULL, "query_new_tuple");
    uint64_t bytes = 0;
    long n = run_search(store, q, 1, &bytes);
    CHECK(n == 15, "QinQ flow has 15 packets, got %ld", n);
    CHECK(bytes == 3776, "QinQ flow has 3776 bytes, got %" PRIu64, bytes);
    capme_query_free(q);

    /* The same window in nanoseconds (an integer etime covers its whole second), reversed
     * direction, protocol omitted. */
    q = NULL;
    st = capme_query_new_tuple_ns(DIP, DPT, SIP, SPT, NULL, 1718407577000000000LL,
                                  1718407578999999999LL, &q);
    CHECK(st == CAPME_OK, "query_new_tuple_ns");
    bytes = 0;
    n = run_search(store, q, 0, &bytes);
    CHECK(n == 15 && bytes == 3776, "ns window: %ld packets %" PRIu64 " bytes", n, bytes);
    capme_query_free(q);

    /* A window that ends before the last packet (1718407578.222645) loses packets. */
    q = NULL;
    st = capme_query_new_tuple_ns(SIP, SPT, DIP, DPT, "tcp", 1718407577000000000LL,
                                  1718407578000000000LL, &q);
    CHECK(st == CAPME_OK, "query_new_tuple_ns short");
    bytes = 0;
    n = run_search(store, q, 0, &bytes);
    CHECK(n > 0 && n < 15, "a shorter window finds fewer packets, got %ld", n);
    capme_query_free(q);
}

static void test_community_id(const capme_store *store) {
    char *cid = NULL;
    capme_status st = capme_community_id(SIP, SPT, DIP, DPT, "tcp", 0, true, &cid);
    CHECK(st == CAPME_OK && cid != NULL, "community_id");
    if (!cid) return;
    printf("C qinq %s\n", cid);
    CHECK(strcmp(cid, "1:Lh7B4JI0U9bVwZ4Y66OAnkQk4Rk=") == 0, "QinQ community id %s", cid);
    char *hex = NULL;
    st = capme_community_id(SIP, SPT, DIP, DPT, "6", 0, false, &hex);
    CHECK(st == CAPME_OK && hex != NULL && strlen(hex) == 42, "hex community id");
    if (hex) printf("C qinq-hex %s\n", hex);
    capme_string_free(hex);
    char *seeded = NULL;
    st = capme_community_id(SIP, SPT, DIP, DPT, "tcp", 1, true, &seeded);
    CHECK(st == CAPME_OK && seeded && strcmp(seeded, cid) != 0, "seed changes the id");
    if (seeded) printf("C qinq-seed1 %s\n", seeded);
    capme_string_free(seeded);

    capme_query *q = NULL;
    st = capme_query_new_community_id(cid, STIME, ETIME, &q);
    CHECK(st == CAPME_OK, "query by community id");
    uint64_t bytes = 0;
    long n = run_search(store, q, 0, &bytes);
    CHECK(n == 15 && bytes == 3776, "community id query: %ld packets", n);
    capme_query_free(q);
    q = NULL;
    st = capme_query_new_community_id_ns(cid, 1718407577000000000LL, 1718407578999999999LL, &q);
    CHECK(st == CAPME_OK, "query by community id ns");
    bytes = 0;
    n = run_search(store, q, 0, &bytes);
    CHECK(n == 15, "community id ns query: %ld packets", n);
    capme_query_free(q);
    capme_string_free(cid);
}

static void test_extract(const capme_store *store, const char *tmp) {
    char out[4096], archive[4096];
    snprintf(out, sizeof out, "%s/c-flow.pcap", tmp);
    snprintf(archive, sizeof archive, "%s/c-archive", tmp);
    capme_query *q = NULL;
    capme_status st = capme_query_new_tuple(SIP, SPT, DIP, DPT, "tcp", STIME, ETIME, &q);
    CHECK(st == CAPME_OK, "query");

    capme_summary *sum = NULL;
    st = capme_extract_to_file(store, q, out, &sum);
    CHECK(st == CAPME_OK && sum != NULL, "extract_to_file");
    if (sum) {
        printf("J %s\n", capme_summary_json(sum));
        CHECK(capme_summary_packets(sum) == 15, "packets");
        CHECK(capme_summary_bytes(sum) == 3776, "bytes");
        CHECK(capme_summary_files_scanned(sum) + capme_summary_files_indexed(sum) >= 1,
              "files_scanned + files_indexed");
        CHECK(capme_summary_bytes_read(sum) > 0, "bytes_read");
        CHECK(!capme_summary_cached(sum), "not cached");
        CHECK(!capme_summary_truncated(sum), "not truncated");
        CHECK(strcmp(capme_summary_output(sum), out) == 0, "output %s", capme_summary_output(sum));
        CHECK(strcmp(capme_summary_community_id(sum), "1:Lh7B4JI0U9bVwZ4Y66OAnkQk4Rk=") == 0,
              "community id");
        int64_t first = 0, last = 0;
        CHECK(capme_summary_first_ts_ns(sum, &first) && first == 1718407577678912000LL,
              "first_ts_ns %" PRId64, first);
        CHECK(capme_summary_last_ts_ns(sum, &last) && last == 1718407578222645000LL,
              "last_ts_ns %" PRId64, last);
        double ffirst = 0, flast = 0;
        CHECK(capme_summary_first_ts(sum, &ffirst) && ffirst > 1718407577.6789 &&
                  ffirst < 1718407577.6790, "first_ts %f", ffirst);
        CHECK(capme_summary_last_ts(sum, &flast) && flast > 1718407578.2226 &&
                  flast < 1718407578.2227, "last_ts %f", flast);
        CHECK(capme_summary_warning_count(sum) == 0, "no warnings");
        CHECK(capme_summary_warning(sum, 0) == NULL, "warning out of range");
        CHECK(access(out, F_OK) == 0, "file written");
        capme_summary_free(sum);
    }

    /* The file exists now: refused without replacing, replaced with _replacing. */
    sum = NULL;
    st = capme_extract_to_file(store, q, out, &sum);
    CHECK(st == CAPME_INVALID && sum == NULL, "existing output refused: %s",
          capme_status_kind((int)st));
    CHECK(strstr(capme_last_error(), "already exists") != NULL, "message: %s",
          capme_last_error());
    st = capme_extract_to_file_replacing(store, q, out, &sum);
    CHECK(st == CAPME_OK && sum != NULL && capme_summary_packets(sum) == 15,
          "extract_to_file_replacing");
    capme_summary_free(sum);
    sum = NULL;
    st = capme_extract_to_file_replacing(store, q, tmp, &sum);
    CHECK(st == CAPME_INVALID && sum == NULL, "a directory is never replaced");

    /* Archive: written, then cached, then forced. */
    const char *labels[3] = {"first", "cached", "forced"};
    bool force[3] = {false, false, true};
    bool cached[3] = {false, true, false};
    char archived[4096] = "";
    for (int i = 0; i < 3; i++) {
        sum = NULL;
        st = capme_extract_to_archive(store, q, archive, force[i], &sum);
        CHECK(st == CAPME_OK && sum != NULL, "extract_to_archive %s", labels[i]);
        if (!sum) continue;
        printf("A %s %s\n", labels[i], capme_summary_json(sum));
        CHECK(capme_summary_cached(sum) == cached[i], "archive %s cached flag", labels[i]);
        CHECK(capme_summary_packets(sum) == 15, "archive %s packets", labels[i]);
        CHECK(strncmp(capme_summary_output(sum), archive, strlen(archive)) == 0, "in archive");
        snprintf(archived, sizeof archived, "%s", capme_summary_output(sum));
        capme_summary_free(sum);
    }

    /* A corrupt cached archive file does not verify against its cache record: rebuilt, with
       a warning saying why. */
    if (archived[0]) {
        FILE *f = fopen(archived, "wb");
        CHECK(f != NULL, "open archive file");
        if (f) {
            fputs("\xd4\xc3\xb2\xa1garbage", f);
            fclose(f);
        }
        sum = NULL;
        st = capme_extract_to_archive(store, q, archive, false, &sum);
        CHECK(st == CAPME_OK && sum != NULL, "corrupt archive rebuilt: %s",
              capme_status_kind((int)st));
        if (sum) {
            CHECK(!capme_summary_cached(sum) && capme_summary_packets(sum) == 15,
                  "rebuilt archive: not cached, 15 packets");
            CHECK(capme_summary_warning_count(sum) == 1, "rebuilt archive: one warning");
            capme_summary_free(sum);
        }
    }

    /* A store whose only capture file in the window is corrupt: no packet, and the message
       names the damage first (a corrupt archive used to be the format-error case). */
    {
        char corrupt[4096];
        snprintf(corrupt, sizeof corrupt, "%s/corrupt-1718407577.pcap", tmp);
        FILE *f = fopen(corrupt, "wb");
        CHECK(f != NULL, "open corrupt capture");
        if (f) {
            fputs("\xd4\xc3\xb2\xa1garbage", f);
            fclose(f);
        }
        const char *croots[] = {corrupt};
        capme_store *cs = NULL;
        st = capme_store_open(croots, 1, &cs);
        CHECK(st == CAPME_OK && cs != NULL, "open the corrupt capture as a store");
        sum = NULL;
        char cout[4096];
        snprintf(cout, sizeof cout, "%s/corrupt-out.pcap", tmp);
        st = capme_extract_to_file(cs, q, cout, &sum);
        CHECK(st == CAPME_NO_PACKETS && sum == NULL, "corrupt capture: %s",
              capme_status_kind((int)st));
        report_error("corrupt", st);
        capme_store_free(cs);
    }

    /* No packets: status, message and no file left behind. */
    capme_query *empty = NULL;
    st = capme_query_new_tuple(SIP, SPT, DIP, DPT, "tcp", "1718400000", "1718400001", &empty);
    CHECK(st == CAPME_OK, "empty query");
    char none[4096];
    snprintf(none, sizeof none, "%s/c-none.pcap", tmp);
    sum = (capme_summary *)1; /* must be reset to NULL */
    st = capme_extract_to_file(store, empty, none, &sum);
    CHECK(st == CAPME_NO_PACKETS && sum == NULL, "no packets: %s", capme_status_kind((int)st));
    report_error("nopackets", st);
    CHECK(access(none, F_OK) != 0, "no file left for an empty result");
    uint64_t bytes = 0;
    CHECK(run_search(store, empty, 0, &bytes) == 0, "empty search yields nothing");
    capme_query_free(empty);

    /* I/O: output directory missing. */
    sum = NULL;
    st = capme_extract_to_file(store, q, "/nonexistent-capme-dir/x.pcap", &sum);
    CHECK(st == CAPME_IO && sum == NULL, "io: %s", capme_status_kind((int)st));
    report_error("io", st);
    capme_query_free(q);
}

static void test_errors(const capme_store *store) {
    capme_query *q = NULL;
    capme_status st;

    st = capme_query_new_tuple("sip", SPT, DIP, DPT, "tcp", STIME, ETIME, &q);
    CHECK(st == CAPME_INVALID && q == NULL, "bad sip");
    report_error("bad_sip", st);
    st = capme_query_new_tuple(SIP, "70000", DIP, DPT, "tcp", STIME, ETIME, &q);
    CHECK(st == CAPME_INVALID, "bad spt");
    report_error("bad_spt", st);
    st = capme_query_new_tuple(SIP, NULL, DIP, DPT, "tcp", STIME, ETIME, &q);
    CHECK(st == CAPME_INVALID, "missing spt");
    report_error("missing_spt", st);
    st = capme_query_new_tuple(SIP, SPT, DIP, DPT, "bogus", STIME, ETIME, &q);
    CHECK(st == CAPME_INVALID, "bad proto");
    report_error("bad_proto", st);
    st = capme_query_new_tuple(SIP, SPT, DIP, DPT, "tcp", "yesterday", ETIME, &q);
    CHECK(st == CAPME_INVALID, "bad stime");
    report_error("bad_stime", st);
    st = capme_query_new_tuple(SIP, SPT, DIP, DPT, "tcp", "200", "100", &q);
    CHECK(st == CAPME_INVALID, "etime before stime");
    report_error("etime_before_stime", st);
    st = capme_query_new_tuple_ns(SIP, SPT, DIP, DPT, "tcp", 200, 100, &q);
    CHECK(st == CAPME_INVALID, "ns etime before stime");
    report_error("ns_etime_before_stime", st);
    st = capme_query_new_community_id("nope", STIME, ETIME, &q);
    CHECK(st == CAPME_INVALID, "bad community id");
    report_error("bad_cid", st);
    st = capme_query_new_tuple("\xff", SPT, DIP, DPT, "tcp", STIME, ETIME, &q);
    CHECK(st == CAPME_INVALID, "not utf-8");
    report_error("not_utf8", st);
    CHECK(q == NULL, "no query made by failures");
    /* Two bad fields: the one parser (capme-core's QueryText) reports the flow's first, as the
     * CLI does. */
    st = capme_query_new_tuple("sip", SPT, DIP, DPT, "tcp", "yesterday", ETIME, &q);
    CHECK(st == CAPME_INVALID, "two bad fields");
    report_error("order", st);

    char *cid = NULL;
    st = capme_community_id("1.2.3.4", "1", "::1", "2", "udp", 0, true, &cid);
    CHECK(st == CAPME_INVALID && cid == NULL, "community id family mismatch");
    report_error("cid_family", st);

    /* Stores. */
    capme_store *s = NULL;
    const char *missing[] = {"/nonexistent-capme-store"};
    st = capme_store_open(missing, 1, &s);
    CHECK(st == CAPME_STORE && s == NULL, "missing store: %s", capme_status_kind((int)st));
    report_error("missing_store", st);
    st = capme_store_open(NULL, 0, &s);
    CHECK(st == CAPME_INVALID && s == NULL, "no roots");
    report_error("no_roots", st);

    /* NULLs. */
    st = capme_store_open(missing, 1, NULL);
    CHECK(st == CAPME_NULL, "null out");
    report_error("null_out", st);
    st = capme_store_open(NULL, 1, &s);
    CHECK(st == CAPME_NULL, "null roots");
    report_error("null_roots", st);
    st = capme_query_new_tuple(NULL, SPT, DIP, DPT, "tcp", STIME, ETIME, &q);
    CHECK(st == CAPME_NULL, "null sip");
    report_error("null_sip", st);
    capme_search *search = NULL;
    st = capme_search_new(NULL, NULL, &search);
    CHECK(st == CAPME_NULL && search == NULL, "null store");
    report_error("null_store", st);
    capme_packet p;
    st = capme_search_next(NULL, &p);
    CHECK(st == CAPME_NULL, "null search");
    capme_summary *sum = NULL;
    st = capme_extract_to_file(store, NULL, "/tmp/x.pcap", &sum);
    CHECK(st == CAPME_NULL, "null query");
    report_error("null_query", st);
    CHECK(capme_summary_packets(NULL) == 0 && capme_summary_json(NULL) == NULL, "null summary");
    CHECK(capme_store_set_cancelled(NULL, true) == CAPME_NULL, "null cancel");
    /* Frees accept NULL. */
    capme_store_free(NULL);
    capme_query_free(NULL);
    capme_search_free(NULL);
    capme_summary_free(NULL);
    capme_string_free(NULL);
    CHECK(strcmp(capme_status_kind(42), "unknown") == 0, "unknown status kind");
    CHECK(capme_store_cancel(NULL) == CAPME_NULL, "null cancel (capme_store_cancel)");
    CHECK(capme_store_threads(NULL) == 0, "null store threads");
    double d = 0;
    CHECK(!capme_summary_first_ts(NULL, &d) && !capme_summary_last_ts(NULL, &d), "null first_ts");
}

/* The options object: threads, index dir, no-index, NULLs, threads 0 rejected. */
static void test_options(const char *store_dir, const char *index_dir) {
    const char *roots[] = {store_dir};
    capme_options *o = capme_options_new();
    CHECK(o != NULL, "options_new");
    if (!o) return;
    capme_status st;

    /* NULLs. */
    st = capme_options_set_threads(NULL, 1);
    CHECK(st == CAPME_NULL, "null opts");
    report_error("null_opts", st);
    st = capme_options_set_index_dir(o, NULL);
    CHECK(st == CAPME_NULL, "null index dir");
    report_error("null_dir", st);
    CHECK(capme_options_set_no_index(NULL, true) == CAPME_NULL, "null opts no_index");
    capme_options_free(NULL);

    /* Threads: 0 is rejected and changes nothing; the store reports what it was opened with. */
    st = capme_options_set_threads(o, 0);
    CHECK(st == CAPME_INVALID, "threads 0 rejected: %s", capme_status_kind((int)st));
    report_error("threads_zero", st);
    st = capme_options_set_index_dir(o, "");
    CHECK(st == CAPME_INVALID, "empty index dir rejected");
    report_error("empty_index_dir", st);
    for (size_t n = 1; n <= 3; n += 2) {
        capme_store *s = NULL;
        CHECK(capme_options_set_threads(o, n) == CAPME_OK, "set threads %zu", n);
        st = capme_store_open_with(roots, 1, o, &s);
        CHECK(st == CAPME_OK && s != NULL, "open_with threads %zu", n);
        CHECK(capme_store_threads(s) == n, "store threads %zu, got %zu", n, capme_store_threads(s));
        capme_query *q = NULL;
        CHECK(capme_query_new_tuple(SIP, SPT, DIP, DPT, "tcp", STIME, ETIME, &q) == CAPME_OK, "q");
        uint64_t bytes = 0;
        long got = s ? run_search(s, q, 0, &bytes) : -1;
        CHECK(got == 15 && bytes == 3776, "threads %zu: %ld packets", n, got);
        capme_query_free(q);
        capme_store_free(s);
    }
    /* NULL options are the defaults (the available cores). */
    {
        capme_store *s = NULL;
        CHECK(capme_store_open_with(roots, 1, NULL, &s) == CAPME_OK, "open_with NULL options");
        CHECK(capme_store_threads(s) >= 1, "default threads");
        capme_store_free(s);
    }

    /* Index dir: the flow indexes of INDEX_DIR answer the query (files_indexed); with no-index
     * the same store scans. The options are copied by open_with: freeing them changes nothing. */
    CHECK(capme_options_set_index_dir(o, index_dir) == CAPME_OK, "set index dir");
    for (int no_index = 0; no_index <= 1; no_index++) {
        capme_store *s = NULL;
        capme_query *q = NULL;
        capme_summary *sum = NULL;
        char out[4096];
        snprintf(out, sizeof out, "%s/idx-%d.pcap", index_dir, no_index);
        CHECK(capme_options_set_no_index(o, no_index != 0) == CAPME_OK, "set no_index");
        st = capme_store_open_with(roots, 1, o, &s);
        CHECK(st == CAPME_OK, "open_with index dir");
        CHECK(capme_query_new_tuple(SIP, SPT, DIP, DPT, "tcp", STIME, ETIME, &q) == CAPME_OK, "q");
        st = capme_extract_to_file(s, q, out, &sum);
        CHECK(st == CAPME_OK && sum != NULL, "extract with index dir (no_index %d)", no_index);
        if (sum) {
            CHECK(capme_summary_packets(sum) == 15, "indexed: 15 packets");
            if (no_index) {
                CHECK(capme_summary_files_indexed(sum) == 0 && capme_summary_files_scanned(sum) >= 1,
                      "no-index scans: indexed %" PRIu64 " scanned %" PRIu64,
                      capme_summary_files_indexed(sum), capme_summary_files_scanned(sum));
            } else {
                CHECK(capme_summary_files_indexed(sum) >= 1,
                      "the index dir answers: indexed %" PRIu64, capme_summary_files_indexed(sum));
            }
            printf("I %d %" PRIu64 " %" PRIu64 "\n", no_index, capme_summary_files_indexed(sum),
                   capme_summary_files_scanned(sum));
        }
        capme_summary_free(sum);
        capme_query_free(q);
        capme_store_free(s);
    }
    capme_options_free(o);
}

/* Limits: 0 is rejected naming the field; a packet limit truncates (capme_summary_truncated,
 * a warning, the JSON's last key); a window limit refuses a longer window. */
static void test_limits(const char *store_dir, const char *tmp) {
    const char *roots[] = {store_dir};
    capme_options *o = capme_options_new();
    capme_status st;
    CHECK(capme_options_set_max_packets(NULL, 1) == CAPME_NULL, "null opts max_packets");
    CHECK(capme_options_set_max_bytes(NULL, 1) == CAPME_NULL, "null opts max_bytes");
    CHECK(capme_options_set_max_window_secs(NULL, 1) == CAPME_NULL, "null opts max_window");
    st = capme_options_set_max_packets(o, 0);
    CHECK(st == CAPME_INVALID && strstr(capme_last_error(), "invalid max_packets \"0\"") == capme_last_error(),
          "max_packets 0: %s", capme_last_error());
    report_error("max_packets_zero", st);
    st = capme_options_set_max_bytes(o, 0);
    CHECK(st == CAPME_INVALID && strstr(capme_last_error(), "invalid max_bytes \"0\"") == capme_last_error(),
          "max_bytes 0: %s", capme_last_error());
    st = capme_options_set_max_window_secs(o, 0);
    CHECK(st == CAPME_INVALID && strstr(capme_last_error(), "invalid max_window") == capme_last_error(),
          "max_window 0: %s", capme_last_error());
    CHECK(!capme_summary_truncated(NULL), "truncated(NULL)");

    /* At most 5 packets of the 15. */
    CHECK(capme_options_set_max_packets(o, 5) == CAPME_OK, "set max_packets");
    CHECK(capme_options_set_max_bytes(o, 1u << 20) == CAPME_OK, "set max_bytes");
    {
        capme_store *s = NULL;
        capme_query *q = NULL;
        capme_summary *sum = NULL;
        char out[4096];
        snprintf(out, sizeof out, "%s/c-limited.pcap", tmp);
        CHECK(capme_store_open_with(roots, 1, o, &s) == CAPME_OK, "open_with limits");
        CHECK(capme_query_new_tuple(SIP, SPT, DIP, DPT, "tcp", STIME, ETIME, &q) == CAPME_OK, "q");
        st = capme_extract_to_file(s, q, out, &sum);
        CHECK(st == CAPME_OK && sum != NULL, "extract with max_packets 5");
        if (sum) {
            CHECK(capme_summary_packets(sum) == 5, "5 packets, got %" PRIu64,
                  capme_summary_packets(sum));
            CHECK(capme_summary_truncated(sum), "truncated");
            CHECK(capme_summary_warning_count(sum) == 1 &&
                      strstr(capme_summary_warning(sum, 0), "truncated at max_packets = 5") != NULL,
                  "warning names the limit");
            const char *json = capme_summary_json(sum);
            /* The CLI's key order: truncated, then the tunnel counts added after it. */
            CHECK(strstr(json, "\"truncated\":true,\"encapsulated\":{\"packets\":0,") != NULL,
                  "JSON has truncated, then encapsulated: %s", json);
            printf("L %s\n", json);
        }
        capme_summary_free(sum);
        capme_query_free(q);
        capme_store_free(s);
    }
    /* A 1-second window limit refuses a 3-second window, naming --max-window. */
    CHECK(capme_options_set_max_window_secs(o, 1) == CAPME_OK, "set max_window");
    {
        capme_store *s = NULL;
        capme_query *q = NULL;
        capme_search *search = NULL;
        CHECK(capme_store_open_with(roots, 1, o, &s) == CAPME_OK, "open_with window limit");
        CHECK(capme_query_new_tuple(SIP, SPT, DIP, DPT, "tcp", STIME, "1718407580", &q) == CAPME_OK, "q");
        st = capme_search_new(s, q, &search);
        CHECK(st == CAPME_INVALID && search == NULL, "window refused: %s",
              capme_status_kind((int)st));
        CHECK(strstr(capme_last_error(), "--max-window") != NULL, "message: %s",
              capme_last_error());
        report_error("max_window", st);
        capme_query_free(q);
        capme_store_free(s);
    }
    capme_options_free(o);
}

struct cancel_job {
    const capme_store *store;
    const capme_query *query;
    char out[4096];
    capme_status st;
    long runs;
};

/* Extracts (nothing matches: CAPME_NO_PACKETS) again and again until cancelled. */
static void *extract_until_cancelled(void *arg) {
    struct cancel_job *job = arg;
    do {
        capme_summary *sum = NULL;
        job->st = capme_extract_to_file(job->store, job->query, job->out, &sum);
        capme_summary_free(sum);
        job->runs++;
    } while (job->st == CAPME_NO_PACKETS && job->runs < 100000);
    return NULL;
}

static void test_cancel(const char *big) {
    capme_store *s = NULL;
    const char *roots[] = {big};
    /* The query below spans the whole epoch: the window limit (24 h by default) is raised. */
    capme_options *o = capme_options_new();
    CHECK(capme_options_set_max_window_secs(o, 2000000001u) == CAPME_OK, "raise max_window");
    capme_status st = capme_store_open_with(roots, 1, o, &s);
    capme_options_free(o);
    CHECK(st == CAPME_OK, "open big store");
    if (!s) return;
    capme_query *q = NULL;
    st = capme_query_new_tuple("10.99.0.1", "1", "10.99.0.2", "2", "udp", "0", "2000000000", &q);
    CHECK(st == CAPME_OK, "query for cancel");
    uint64_t bytes = 0;
    long n = run_search(s, q, 0, &bytes);
    CHECK(n == 0, "big store has no packet of that flow, got %ld", n);
    CHECK(capme_store_cancel(s) == CAPME_OK, "cancel");
    capme_search *search = NULL;
    st = capme_search_new(s, q, &search);
    CHECK(st == CAPME_OK, "search on cancelled store starts");
    capme_packet p;
    st = capme_search_next(search, &p);
    CHECK(st == CAPME_CANCELLED, "cancelled: %s", capme_status_kind((int)st));
    report_error("cancelled", st);
    CHECK(capme_search_next(search, &p) == CAPME_DONE, "done after the error");
    capme_search_free(search);
    capme_summary *sum = NULL;
    char out[4096];
    snprintf(out, sizeof out, "%s/../never.pcap", big); /* outside the store root */
    st = capme_extract_to_file(s, q, out, &sum);
    CHECK(st == CAPME_CANCELLED && sum == NULL, "extract cancelled");
    CHECK(capme_store_set_cancelled(s, false) == CAPME_OK, "clear cancelled");
    bytes = 0;
    CHECK(run_search(s, q, 0, &bytes) == 0, "search runs again after clearing");

    /* Cancel from another thread while extractions run on this one's store. */
    struct cancel_job job;
    memset(&job, 0, sizeof job);
    job.store = s;
    job.query = q;
    snprintf(job.out, sizeof job.out, "%s/../never-threaded.pcap", big);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, extract_until_cancelled, &job) == 0, "pthread_create");
    struct timespec pause = {0, 20 * 1000 * 1000};
    nanosleep(&pause, NULL);
    CHECK(capme_store_cancel(s) == CAPME_OK, "cancel from the main thread");
    pthread_join(t, NULL);
    CHECK(job.st == CAPME_CANCELLED, "the running extraction was cancelled: %s after %ld runs",
          capme_status_kind((int)job.st), job.runs);
    CHECK(access(job.out, F_OK) != 0, "a cancelled extraction leaves no file");
    CHECK(capme_store_set_cancelled(s, false) == CAPME_OK, "clear cancelled");
    capme_query_free(q);
    capme_store_free(s);
}

/* ---- transcripts and the query forms of issue 13 ------------------------------------------- */

/* The HTTP flow tcp-v4 of examples/data/manifest.json: 13 packets, 1718406497.123456 to
 * 1718406497.201617, a GET and a 3-segment response. */
#define HSIP "10.10.1.10"
#define HSPT "51000"
#define HDIP "10.10.1.20"
#define HDPT "80"
#define HSTIME "1718406497"
#define HETIME "1718406498"
#define HFIRST_NS 1718406497123456000LL
#define HLAST_NS 1718406497201617000LL

static void print_hex_line(const char *prefix, const char *label, const unsigned char *b,
                           size_t n) {
    printf("%s %s ", prefix, label);
    for (size_t i = 0; i < n; i++) printf("%02x", b[i]);
    printf("\n");
}

static capme_query *http_query(void) {
    capme_query *q = NULL;
    capme_status st = capme_query_new_tuple(HSIP, HSPT, HDIP, HDPT, "tcp", HSTIME, HETIME, &q);
    CHECK(st == CAPME_OK && q != NULL, "http query");
    return q;
}

/* Transcripts in each style, printed as T lines (hex text) for tests/c_api.rs; the result
 * object's segments as S lines. */
static void test_transcript(const capme_store *store) {
    capme_query *q = http_query();
    const char *styles[] = {"capme", "plain", "json", NULL};
    for (int i = 0; i < 4; i++) {
        char *text = NULL;
        capme_status st = capme_transcript(store, q, styles[i], 0, &text);
        CHECK(st == CAPME_OK && text != NULL, "transcript %s", styles[i] ? styles[i] : "NULL");
        if (!text) continue;
        print_hex_line("T", styles[i] ? styles[i] : "default", (const unsigned char *)text,
                       strlen(text));
        if (styles[i] && strcmp(styles[i], "capme") == 0) {
            CHECK(strncmp(text, "HDR: Sensor Name:\tsensor1-eth1\n", 31) == 0, "capme header");
            CHECK(strstr(text, "\nSRC: GET /capme/tcp-v4 HTTP/1.1\n") != NULL, "capme SRC line");
            CHECK(strstr(text, "\nDST: ") != NULL, "capme DST line");
        }
        if (styles[i] && strcmp(styles[i], "json") == 0) {
            CHECK(strncmp(text, "{\"direction\":\"src\",\"ts\":", 24) == 0, "json line");
        }
        capme_string_free(text);
    }

    /* The result object: text, segments, counts. */
    capme_transcript_result *r = NULL;
    capme_status st = capme_transcript_build(store, q, "json", 0, &r);
    CHECK(st == CAPME_OK && r != NULL, "transcript_build");
    if (r) {
        size_t n = capme_transcript_segment_count(r), lines = 0;
        uint64_t src = 0, dst = 0;
        const char *text = capme_transcript_result_text(r);
        for (const char *c = text; c && *c; c++) lines += *c == '\n';
        CHECK(n == 4 && lines == n, "4 segments, one json line each: %zu %zu", n, lines);
        for (size_t i = 0; i < n; i++) {
            capme_segment s;
            CHECK(capme_transcript_segment(r, i, &s), "segment %zu", i);
            char label[96];
            snprintf(label, sizeof label, "%s %" PRId64 " %" PRIu64, s.direction, s.ts_ns,
                     s.offset);
            print_hex_line("S", label, s.payload, s.len);
            if (strcmp(s.direction, "src") == 0) src += s.len; else dst += s.len;
        }
        capme_segment s;
        CHECK(!capme_transcript_segment(r, n, &s), "segment out of range");
        CHECK(!capme_transcript_segment(r, 0, NULL), "NULL segment out");
        CHECK(src == capme_transcript_result_src_bytes(r), "src bytes %" PRIu64, src);
        CHECK(dst == capme_transcript_result_dst_bytes(r), "dst bytes %" PRIu64, dst);
        CHECK(capme_transcript_result_packets(r) == 13, "13 packets");
        CHECK(capme_transcript_result_missing_bytes(r) == 0, "nothing missing");
        CHECK(!capme_transcript_result_truncated(r), "not truncated");
        capme_transcript_result_free(r);
    }

    /* maxtx: the text ends with the notice; the json result says truncated. */
    char *text = NULL;
    st = capme_transcript(store, q, "plain", 10, &text);
    CHECK(st == CAPME_OK && text && strstr(text, "GET /capme\n") &&
              strstr(text, "[transcript truncated at maxtx = 10 bytes: "),
          "maxtx notice");
    capme_string_free(text);
    r = NULL;
    st = capme_transcript_build(store, q, "json", 10, &r);
    CHECK(st == CAPME_OK && capme_transcript_result_truncated(r) &&
              capme_transcript_result_src_bytes(r) + capme_transcript_result_dst_bytes(r) == 10,
          "json maxtx truncated");
    capme_transcript_result_free(r);

    /* Errors: bad style, nothing matched, NULLs. */
    text = (char *)"not NULL";
    st = capme_transcript(store, q, "bogus", 0, &text);
    CHECK(st == CAPME_INVALID && text == NULL, "bad style: %s", capme_status_kind((int)st));
    report_error("transcript-style", st);
    st = capme_transcript(NULL, q, NULL, 0, &text);
    CHECK(st == CAPME_NULL, "NULL store");
    report_error("transcript-null-store", st);
    st = capme_transcript(store, q, NULL, 0, NULL);
    CHECK(st == CAPME_NULL, "NULL out");
    r = (capme_transcript_result *)&text;
    st = capme_transcript_build(store, NULL, NULL, 0, &r);
    CHECK(st == CAPME_NULL && r == NULL, "NULL query");
    capme_query *none = NULL;
    st = capme_query_new_tuple(HSIP, HSPT, HDIP, HDPT, "tcp", "1718400000", "1718400001", &none);
    CHECK(st == CAPME_OK, "empty window query");
    st = capme_transcript(store, none, "capme", 0, &text);
    CHECK(st == CAPME_NO_PACKETS && text == NULL, "no packets: %s", capme_status_kind((int)st));
    report_error("transcript-nopackets", st);
    capme_query_free(none);
    CHECK(capme_transcript_result_text(NULL) == NULL && capme_transcript_segment_count(NULL) == 0,
          "NULL accessors");
    capme_transcript_result_free(NULL);
    capme_query_free(q);
}

static void window_of(const capme_query *q, int64_t *s, int64_t *e) {
    *s = *e = 0;
    CHECK(capme_query_window_ns(q, s, e), "window_ns");
}

/* A CapMe link is the same query as its fields; pad widens it; errors name the field. */
static void test_url(const capme_store *store) {
    const char *url = "https://so/capme/index.php?sip=" SIP "&spt=" SPT "&dip=" DIP "&dpt=" DPT
                      "&stime=" STIME "&etime=" ETIME "&usr=analyst";
    capme_query *uq = NULL, *tq = NULL;
    capme_status st = capme_query_new_url(url, NULL, NULL, NULL, &uq);
    CHECK(st == CAPME_OK && uq != NULL, "query_new_url");
    st = capme_query_new_tuple(SIP, SPT, DIP, DPT, NULL, STIME, ETIME, &tq);
    CHECK(st == CAPME_OK, "tuple");
    int64_t us, ue, ts, te;
    window_of(uq, &us, &ue);
    window_of(tq, &ts, &te);
    CHECK(us == ts && ue == te, "url window %" PRId64 "-%" PRId64 " = tuple's", us, ue);
    uint64_t ub = 0, tb = 0;
    long un = run_search(store, uq, 0, &ub), tn = run_search(store, tq, 0, &tb);
    CHECK(un == 15 && un == tn && ub == tb, "url query = tuple query: %ld %ld", un, tn);
    capme_query_free(uq);
    capme_query_free(tq);

    /* pad: 5 s on each side; stime/etime replace the link's window. */
    uq = NULL;
    st = capme_query_new_url(url, NULL, NULL, "5", &uq);
    CHECK(st == CAPME_OK, "url pad");
    window_of(uq, &us, &ue);
    CHECK(us == 1718407572000000000LL && ue == 1718407583999999999LL, "padded %" PRId64, us);
    capme_query_free(uq);
    uq = NULL;
    st = capme_query_new_url(url, "1718407570", "1718407571", NULL, &uq);
    CHECK(st == CAPME_OK, "url with stime/etime");
    window_of(uq, &us, &ue);
    CHECK(us == 1718407570000000000LL, "stime replaces the link's");
    capme_query_free(uq);

    /* Errors name the field. */
    uq = (capme_query *)&us;
    st = capme_query_new_url("https://so/capme/index.php?sip=" SIP "&spt=65536&dip=" DIP
                             "&dpt=22&stime=1&etime=2", NULL, NULL, NULL, &uq);
    CHECK(st == CAPME_INVALID && uq == NULL, "bad spt in url");
    report_error("url-spt", st);
    st = capme_query_new_url("https://so/capme/index.php?sip=" SIP "&spt=1&dip=" DIP "&dpt=22",
                             NULL, NULL, NULL, &uq);
    CHECK(st == CAPME_INVALID, "url without window");
    report_error("url-no-window", st);
    st = capme_query_new_url(url, NULL, NULL, "soon", &uq);
    CHECK(st == CAPME_INVALID, "bad pad");
    report_error("url-pad", st);
    st = capme_query_new_url(NULL, NULL, NULL, NULL, &uq);
    CHECK(st == CAPME_NULL, "NULL url");
    report_error("url-null", st);
}

/* capme_query_new_fields: every form, pad on a tuple, the one-form rule, unknown names. */
static void test_fields(const capme_store *store) {
    const char *names[] = {"sip", "spt", "dip", "dpt", "proto", "stime", "etime", "pad"};
    const char *values[] = {SIP, SPT, DIP, DPT, "tcp", STIME, ETIME, "1.5"};
    capme_query *q = NULL;
    capme_status st = capme_query_new_fields(names, values, 8, &q);
    CHECK(st == CAPME_OK, "fields tuple + pad");
    int64_t s, e;
    window_of(q, &s, &e);
    CHECK(s == 1718407575500000000LL && e == 1718407580499999999LL, "pad 1.5: %" PRId64, s);
    uint64_t b = 0;
    CHECK(run_search(store, q, 0, &b) == 15, "fields query finds the flow");
    capme_query_free(q);

    values[7] = NULL; /* a NULL value is an absent field */
    q = NULL;
    st = capme_query_new_fields(names, values, 8, &q);
    CHECK(st == CAPME_OK, "NULL value");
    window_of(q, &s, &e);
    CHECK(s == 1718407577000000000LL, "no pad");
    capme_query_free(q);

    const char *n2[] = {"community_id", "stime", "etime"};
    const char *v2[] = {"1:Lh7B4JI0U9bVwZ4Y66OAnkQk4Rk=", STIME, ETIME};
    q = NULL;
    st = capme_query_new_fields(n2, v2, 3, &q);
    CHECK(st == CAPME_OK, "fields community_id");
    b = 0;
    CHECK(run_search(store, q, 0, &b) == 15, "community id via fields");
    capme_query_free(q);

    const char *n3[] = {"sip", "url"};
    const char *v3[] = {SIP, "https://so/capme/index.php?sip=1.2.3.4"};
    st = capme_query_new_fields(n3, v3, 2, &q);
    CHECK(st == CAPME_INVALID && q == NULL, "two flow forms");
    report_error("fields-two-forms", st);
    const char *n4[] = {"sport"};
    const char *v4[] = {"1"};
    st = capme_query_new_fields(n4, v4, 1, &q);
    CHECK(st == CAPME_INVALID, "unknown field");
    report_error("fields-unknown", st);
    const char *n5[] = {"sip", "sip"};
    const char *v5[] = {SIP, DIP};
    st = capme_query_new_fields(n5, v5, 2, &q);
    CHECK(st == CAPME_INVALID, "field twice");
    report_error("fields-twice", st);
    st = capme_query_new_fields(NULL, NULL, 0, &q);
    CHECK(st == CAPME_INVALID, "no field");
    report_error("fields-none", st);
    st = capme_query_new_fields(NULL, v5, 2, &q);
    CHECK(st == CAPME_NULL, "NULL names");
}

/* A Zeek uid: a conn.log (TSV) written here gives the HTTP flow; its transcript is the
 * tuple query's. */
static void test_zeek(const capme_store *store, const char *tmp) {
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s/zeek-logs", tmp);
    snprintf(path, sizeof path, "%s/conn.log", dir);
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    CHECK(system(cmd) == 0, "mkdir %s", dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL, "write %s", path);
    if (!f) return;
    fputs("#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n"
          "#path\tconn\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\t"
          "service\tduration\n#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\t"
          "interval\n"
          "1718406490.000000\tCother1\t10.9.9.9\t1\t10.9.9.8\t2\ttcp\t-\t-\n"
          "1718406497.123456\tCHttp4Test\t" HSIP "\t" HSPT "\t" HDIP "\t" HDPT "\ttcp\thttp\t"
          "0.078161\n",
          f);
    fclose(f);

    capme_query *zq = NULL, *tq = http_query();
    capme_status st = capme_query_new_zeek_uid("CHttp4Test", dir, NULL, &zq);
    CHECK(st == CAPME_OK && zq != NULL, "query_new_zeek_uid");
    int64_t s, e;
    window_of(zq, &s, &e);
    CHECK(s == HFIRST_NS - 2000000000LL && e == HLAST_NS + 2000000000LL,
          "zeek window [ts - 2 s, ts + duration + 2 s]: %" PRId64 " %" PRId64, s, e);
    char *zt = NULL, *tt = NULL;
    CHECK(capme_transcript(store, zq, "capme", 0, &zt) == CAPME_OK, "zeek transcript");
    CHECK(capme_transcript(store, tq, "capme", 0, &tt) == CAPME_OK, "tuple transcript");
    CHECK(zt && tt && strcmp(zt, tt) == 0, "zeek uid transcript = tuple transcript");
    capme_string_free(zt);
    capme_string_free(tt);
    capme_query_free(zq);

    /* pad, and the conn.log given as one file. */
    zq = NULL;
    st = capme_query_new_zeek_uid("CHttp4Test", path, "0", &zq);
    CHECK(st == CAPME_OK, "zeek pad 0, one file");
    window_of(zq, &s, &e);
    CHECK(s == HFIRST_NS && e == HLAST_NS, "pad 0: the record's window");
    capme_query_free(zq);

    st = capme_query_new_zeek_uid("CNotThere", dir, NULL, &zq);
    CHECK(st == CAPME_NO_PACKETS && zq == NULL, "uid not found: %s", capme_status_kind((int)st));
    report_error("zeek-notfound", st);
    const char *n[] = {"zeek_uid", "zeek_logs", "stime"};
    const char *v[] = {"CHttp4Test", dir, "1"};
    st = capme_query_new_fields(n, v, 3, &zq);
    CHECK(st == CAPME_INVALID, "zeek uid with stime");
    report_error("zeek-stime", st);
    st = capme_query_new_fields(n, v, 1, &zq);
    CHECK(st == CAPME_INVALID, "zeek uid without logs");
    report_error("zeek-nologs", st);
    st = capme_query_new_zeek_uid("CHttp4Test", NULL, NULL, &zq);
    CHECK(st == CAPME_NULL, "NULL logs");
    capme_query_free(tq);
}

/* --whole-flow: a window holding only the first packet grows to the whole flow. */
static void test_grow(const capme_store *store) {
    capme_query *q = NULL, *g = NULL;
    capme_status st = capme_query_new_tuple_ns(HSIP, HSPT, HDIP, HDPT, "tcp", HFIRST_NS,
                                               HFIRST_NS, &q);
    CHECK(st == CAPME_OK, "one-packet window");
    uint64_t b = 0;
    CHECK(run_search(store, q, 0, &b) == 1, "one packet before growing");
    bool limited = true;
    st = capme_store_grow_window(store, q, &g, &limited);
    CHECK(st == CAPME_OK && g != NULL && !limited, "grow_window");
    int64_t s, e;
    window_of(g, &s, &e);
    CHECK(s == HFIRST_NS && e == HLAST_NS, "grown to the flow: %" PRId64 " %" PRId64, s, e);
    b = 0;
    CHECK(run_search(store, g, 0, &b) == 13, "13 packets after growing");
    capme_query_free(g);
    g = NULL;
    st = capme_store_grow_window(store, q, &g, NULL);
    CHECK(st == CAPME_OK && g != NULL, "grow_window, NULL limited");
    capme_query_free(g);
    st = capme_store_grow_window(NULL, q, &g, NULL);
    CHECK(st == CAPME_NULL && g == NULL, "grow NULL store");
    report_error("grow-null", st);
    capme_query_free(q);
}

/* ---- sensors and the catalogue (the CLI's --sensor and --no-catalogue) ---------------------- */

/* shared-tcp of examples/data/manifest.json: seen by both sensors, 15 packets each. */
#define SHSIP "10.10.12.10"
#define SHSPT "46000"
#define SHDIP "10.10.12.20"
#define SHDPT "80"
#define SHSTIME "1718409881"
#define SHETIME "1718409883"

/* Opens `root` with the sensors `names[0..n]` (and no_catalogue, and an index dir when not
 * NULL). NULL on failure (a CHECK reports it). */
static capme_store *open_restricted(const char *root, const char *const *names, size_t n,
                                    bool no_catalogue, const char *index_dir) {
    capme_options *o = capme_options_new();
    capme_store *s = NULL;
    CHECK(o != NULL, "options_new");
    if (!o) return NULL;
    CHECK(capme_options_set_sensors(o, names, n) == CAPME_OK, "set_sensors (%zu)", n);
    CHECK(capme_options_set_no_catalogue(o, no_catalogue) == CAPME_OK, "set_no_catalogue");
    if (index_dir) CHECK(capme_options_set_index_dir(o, index_dir) == CAPME_OK, "index dir");
    capme_status st = capme_store_open_with(&root, 1, o, &s);
    CHECK(st == CAPME_OK && s != NULL, "open with sensors: %s", capme_status_kind((int)st));
    capme_options_free(o);
    return s;
}

/* Searches the shared flow: the packet count; every packet's sensor is `only` when not NULL.
 * Prints N lines (label, ts_ns, sensor) for tests/c_api.rs. */
static long shared_packets(const capme_store *s, const char *label, const char *only) {
    capme_query *q = NULL;
    capme_search *se = NULL;
    capme_packet p;
    capme_status st;
    long n = 0;
    st = capme_query_new_tuple(SHSIP, SHSPT, SHDIP, SHDPT, "tcp", SHSTIME, SHETIME, &q);
    CHECK(st == CAPME_OK, "shared query");
    st = capme_search_new(s, q, &se);
    CHECK(st == CAPME_OK, "search %s: %s", label, capme_status_kind((int)st));
    while (se && (st = capme_search_next(se, &p)) == CAPME_OK) {
        n++;
        printf("N %s %" PRId64 " %s\n", label, p.ts_ns, p.sensor);
        if (only) CHECK(strcmp(p.sensor, only) == 0, "%s: packet of %s", label, p.sensor);
    }
    if (se) CHECK(st == CAPME_DONE, "%s ends with done: %s", label, capme_status_kind((int)st));
    capme_search_free(se);
    capme_query_free(q);
    return n;
}

/* The extraction of the shared flow with `s` into TMP/<name>: its summary (NULL on failure,
 * with the status in *st). */
static capme_summary *shared_extract(const capme_store *s, const char *tmp, const char *name,
                                     capme_status *st) {
    char out[4096];
    capme_query *q = NULL;
    capme_summary *sum = NULL;
    snprintf(out, sizeof out, "%s/%s", tmp, name);
    unlink(out);
    CHECK(capme_query_new_tuple(SHSIP, SHSPT, SHDIP, SHDPT, "tcp", SHSTIME, SHETIME, &q) ==
              CAPME_OK, "shared query");
    *st = capme_extract_to_file(s, q, out, &sum);
    capme_query_free(q);
    return sum;
}

/* A copy of the catalogue that INDEX_DIR holds (written by capme-core's index build), under
 * TMP/damaged-index with the same name and a body that is not a catalogue. Returns 1 when
 * written. */
static int write_damaged_catalogue(const char *index_dir, const char *tmp, char *dir,
                                   size_t dir_len) {
    DIR *d = opendir(index_dir);
    struct dirent *e;
    int written = 0;
    struct stat st;
    snprintf(dir, dir_len, "%s/damaged-index", tmp);
    /* (errno.h is not included: its ETIME would collide with the window's macro.) */
    if (mkdir(dir, 0700) != 0 && (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))) {
        if (d) closedir(d);
        return 0;
    }
    if (!d) return 0;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".ccat") == 0) {
            char path[4096 + 512];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            FILE *f = fopen(path, "wb");
            if (f) {
                fputs("CAPMECAT but not a catalogue", f);
                written = fclose(f) == 0;
            }
        }
    }
    closedir(d);
    return written;
}

static void test_sensors(const char *root, const char *tmp, const char *index_dir) {
    const char *one[] = {"sensor1-eth1"};
    const char *two[] = {"sensor2-eth0"};
    const char *both[] = {"sensor2-eth0", "sensor1-eth1", "sensor2-eth0"};
    const char *unknown[] = {"sensor1-eth1", "nope"};
    const char *with_null[] = {"sensor1-eth1", NULL};
    const char *not_utf8[] = {"sensor\xff"};
    capme_store *s;
    capme_status st;
    long all, n1, n2, nb;

    /* Every sensor (the default, and n = 0), each one, both named. */
    s = open_restricted(root, NULL, 0, false, NULL);
    all = s ? shared_packets(s, "all", NULL) : -1;
    capme_store_free(s);
    CHECK(all == 30, "shared-tcp: 15 packets from each sensor, got %ld", all);
    s = open_restricted(root, one, 1, false, NULL);
    n1 = s ? shared_packets(s, "sensor1-eth1", "sensor1-eth1") : -1;
    capme_store_free(s);
    s = open_restricted(root, two, 1, false, NULL);
    n2 = s ? shared_packets(s, "sensor2-eth0", "sensor2-eth0") : -1;
    capme_store_free(s);
    s = open_restricted(root, both, 3, false, NULL);
    nb = s ? shared_packets(s, "both", NULL) : -1;
    capme_store_free(s);
    CHECK(n1 == 15 && n2 == 15 && nb == 30, "per sensor: %ld %ld, both %ld", n1, n2, nb);

    /* A flow one sensor never saw is not found through it (the QinQ flow is sensor1's and
     * sensor2's; tcp-v4 only sensor1-eth1's). */
    s = open_restricted(root, two, 1, false, NULL);
    if (s) {
        capme_query *q = http_query();
        capme_summary *sum = NULL;
        char out[4096];
        snprintf(out, sizeof out, "%s/c-sensor-none.pcap", tmp);
        st = capme_extract_to_file(s, q, out, &sum);
        CHECK(st == CAPME_NO_PACKETS && sum == NULL, "tcp-v4 through sensor2-eth0: %s",
              capme_status_kind((int)st));
        CHECK(access(out, F_OK) != 0, "no file left");
        capme_query_free(q);
        capme_store_free(s);
    }

    /* An unknown sensor: the store opens, every query fails naming it and listing the
     * store's sensors (the CLI's message). */
    s = open_restricted(root, unknown, 2, false, NULL);
    if (s) {
        capme_query *q = NULL;
        capme_search *se = (capme_search *)&q;
        capme_summary *sum = NULL;
        char *text = (char *)"x";
        CHECK(capme_query_new_tuple(SHSIP, SHSPT, SHDIP, SHDPT, "tcp", SHSTIME, SHETIME, &q) ==
                  CAPME_OK, "query");
        st = capme_search_new(s, q, &se);
        CHECK(st == CAPME_INVALID && se == NULL, "unknown sensor search: %s",
              capme_status_kind((int)st));
        report_error("unknown_sensor", st);
        CHECK(strstr(capme_last_error(), "\"nope\"") != NULL &&
                  strstr(capme_last_error(), "sensor1-eth1, sensor2-eth0") != NULL,
              "the message names the sensor and the store's");
        sum = shared_extract(s, tmp, "c-unknown.pcap", &st);
        CHECK(st == CAPME_INVALID && sum == NULL, "unknown sensor extract: %s",
              capme_status_kind((int)st));
        st = capme_transcript(s, q, NULL, 0, &text);
        CHECK(st == CAPME_INVALID && text == NULL, "unknown sensor transcript: %s",
              capme_status_kind((int)st));
        capme_query_free(q);
        capme_store_free(s);
    }

    /* Bad arguments leave the options unchanged. */
    {
        capme_options *o = capme_options_new();
        capme_store *r = NULL;
        st = capme_options_set_sensors(o, NULL, 1);
        CHECK(st == CAPME_NULL, "NULL names");
        report_error("null_names", st);
        st = capme_options_set_sensors(o, with_null, 2);
        CHECK(st == CAPME_NULL, "a NULL name");
        report_error("null_name", st);
        st = capme_options_set_sensors(o, not_utf8, 1);
        CHECK(st == CAPME_INVALID, "not UTF-8: %s", capme_status_kind((int)st));
        report_error("sensor_not_utf8", st);
        CHECK(capme_options_set_sensors(NULL, one, 1) == CAPME_NULL, "NULL opts");
        CHECK(capme_options_set_no_catalogue(NULL, true) == CAPME_NULL, "NULL opts");
        CHECK(capme_options_set_sensors(o, two, 1) == CAPME_OK, "set");
        CHECK(capme_options_set_sensors(o, NULL, 0) == CAPME_OK, "clear");
        CHECK(capme_store_open_with(&root, 1, o, &r) == CAPME_OK, "open after clear");
        CHECK(shared_packets(r, "cleared", NULL) == 30, "cleared: every sensor");
        capme_store_free(r);
        capme_options_free(o);
    }

    /* The catalogue: a damaged one is reported as a warning and ignored; with no_catalogue it
     * is not read at all. Same packets either way. */
    {
        char dir[4096];
        capme_summary *with, *without;
        capme_status st2;
        CHECK(write_damaged_catalogue(index_dir, tmp, dir, sizeof dir),
              "a catalogue in %s to damage", index_dir);
        s = open_restricted(root, NULL, 0, false, dir);
        with = s ? shared_extract(s, tmp, "c-cat.pcap", &st) : NULL;
        capme_store_free(s);
        s = open_restricted(root, NULL, 0, true, dir);
        without = s ? shared_extract(s, tmp, "c-nocat.pcap", &st2) : NULL;
        capme_store_free(s);
        CHECK(with && without, "both extract");
        if (with && without) {
            CHECK(capme_summary_warning_count(with) >= 1 && capme_summary_warning(with, 0) &&
                      strstr(capme_summary_warning(with, 0), "catalogue") != NULL,
                  "the damaged catalogue is a warning: %s",
                  capme_summary_warning(with, 0) ? capme_summary_warning(with, 0) : "(none)");
            CHECK(capme_summary_warning_count(without) == 0,
                  "no_catalogue never reads it: %zu warnings",
                  capme_summary_warning_count(without));
            CHECK(capme_summary_packets(with) == 30 && capme_summary_packets(without) == 30,
                  "same packets");
            if (capme_summary_warning(with, 0))
                printf("K %s\n", capme_summary_warning(with, 0));
        }
        capme_summary_free(with);
        capme_summary_free(without);
    }
}

/* The tunnel options (issue 15) on a tunnel store: argv[5] the store, argv[6..11] an inner flow
 * seen both plain and inside a tunnel (sip spt dip dpt stime etime). Writes c-layer-*.pcap,
 * c-decap.pcap, c-zstd.pcap.zst and c-gzip.pcap.gz under tmp, which the Rust side compares
 * with capme-core's extractions. */
static void test_tunnels(char **a, const char *tmp) {
    const char *roots[] = {a[5]};
    capme_store *store = NULL;
    capme_query *q = NULL;
    capme_summary *sum = NULL;
    char out[4096];
    uint64_t enc[3] = {0, 0, 0};
    uint64_t n[3] = {0, 0, 0};
    const char *layers[] = {"any", "outer", "INNER"};
    capme_status st = capme_store_open(roots, 1, &store);
    CHECK(st == CAPME_OK, "open the tunnel store");
    if (!store) return;
    st = capme_query_new_tuple(a[6], a[7], a[8], a[9], "tcp", a[10], a[11], &q);
    CHECK(st == CAPME_OK, "tunnel query");
    for (int i = 0; i < 3; i++) {
        st = capme_query_set_layer(q, layers[i]);
        CHECK(st == CAPME_OK, "set_layer %s", layers[i]);
        snprintf(out, sizeof out, "%s/c-layer-%d.pcap", tmp, i);
        sum = NULL;
        st = capme_extract_to_file(store, q, out, &sum);
        CHECK(st == CAPME_OK && sum != NULL, "extract at layer %s", layers[i]);
        if (sum) {
            n[i] = capme_summary_packets(sum);
            printf("TUN %s %" PRIu64 "\n", layers[i], n[i]);
            /* The tunnel counts: every kind named, counted, and nothing past the last. */
            enc[i] = capme_summary_encapsulated(sum);
            size_t kinds = capme_summary_encapsulation_count(sum);
            for (size_t k = 0; k < kinds; k++) {
                uint64_t c = 0;
                const char *kind = capme_summary_encapsulation(sum, k, &c);
                CHECK(kind != NULL && *kind && c > 0 && c <= enc[i], "kind %zu: %s %" PRIu64,
                      k, kind ? kind : "(null)", c);
            }
            CHECK(capme_summary_encapsulation(sum, kinds, NULL) == NULL, "kind out of range");
            CHECK((kinds == 0) == (enc[i] == 0), "kinds %zu for %" PRIu64 " tunnel packets",
                  kinds, enc[i]);
            capme_summary_free(sum);
        }
    }
    CHECK(n[1] > 0 && n[2] > 0 && n[0] == n[1] + n[2], "any %" PRIu64 " = outer %" PRIu64
          " + inner %" PRIu64, n[0], n[1], n[2]);
    /* The plain copies are no tunnel packets; what matched inside a tunnel is. */
    CHECK(enc[1] == 0 && enc[2] == n[2] && enc[0] == n[2], "encapsulated %" PRIu64 " %" PRIu64
          " %" PRIu64, enc[0], enc[1], enc[2]);
    CHECK(capme_summary_encapsulated(NULL) == 0 && capme_summary_encapsulation_count(NULL) == 0
          && capme_summary_encapsulation(NULL, 0, NULL) == NULL, "NULL summary");

    /* A bad layer names the field and its value; the query keeps its layer (inner). */
    st = capme_query_set_layer(q, "middle");
    CHECK(st == CAPME_INVALID, "bad layer: %d", (int)st);
    CHECK(strstr(capme_last_error(), "layer") && strstr(capme_last_error(), "middle"),
          "message names layer: %s", capme_last_error());
    CHECK(capme_query_set_layer(q, NULL) == CAPME_NULL, "NULL layer");
    CHECK(capme_query_set_layer(NULL, "any") == CAPME_NULL, "NULL query");
    CHECK(capme_query_set_decapsulate(NULL, true) == CAPME_NULL, "NULL query (decapsulate)");
    sum = NULL;
    snprintf(out, sizeof out, "%s/c-layer-kept.pcap", tmp);
    st = capme_extract_to_file(store, q, out, &sum);
    CHECK(st == CAPME_OK && sum && capme_summary_packets(sum) == n[2], "layer kept");
    capme_summary_free(sum);

    /* Decapsulated, at any layer. */
    CHECK(capme_query_set_layer(q, "any") == CAPME_OK, "back to any");
    CHECK(capme_query_set_decapsulate(q, true) == CAPME_OK, "set_decapsulate");
    snprintf(out, sizeof out, "%s/c-decap.pcap", tmp);
    sum = NULL;
    st = capme_extract_to_file(store, q, out, &sum);
    CHECK(st == CAPME_OK && sum && capme_summary_packets(sum) == n[0], "decapsulated");
    capme_summary_free(sum);
    snprintf(out, sizeof out, "%s/c-decap-archive", tmp);
    sum = NULL;
    st = capme_extract_to_archive(store, q, out, false, &sum);
    CHECK(st == CAPME_INVALID && sum == NULL, "no decapsulated archive: %d", (int)st);
    CHECK(strstr(capme_last_error(), "decapsulate") != NULL, "names decapsulate: %s",
          capme_last_error());
    CHECK(capme_query_set_decapsulate(q, false) == CAPME_OK, "unset decapsulate");

    /* Compressed outputs: the suffix added, the summary's output the name written. */
    const char *formats[] = {"zstd", "GZIP"};
    const char *names[] = {"c-zstd.pcap", "c-gzip.pcap"};
    const char *suffixes[] = {".zst", ".gz"};
    for (int i = 0; i < 2; i++) {
        char want[4200];
        snprintf(out, sizeof out, "%s/%s", tmp, names[i]);
        snprintf(want, sizeof want, "%s%s", out, suffixes[i]);
        sum = NULL;
        st = capme_extract_to_compressed_file(store, q, out, formats[i], false, &sum);
        CHECK(st == CAPME_OK && sum != NULL, "compressed %s", formats[i]);
        if (sum) {
            CHECK(strcmp(capme_summary_output(sum), want) == 0, "output %s",
                  capme_summary_output(sum));
            CHECK(access(want, F_OK) == 0 && access(out, F_OK) != 0, "only %s written", want);
            capme_summary_free(sum);
        }
        /* Existing now: refused unless replacing. */
        sum = NULL;
        st = capme_extract_to_compressed_file(store, q, out, formats[i], false, &sum);
        CHECK(st == CAPME_INVALID && sum == NULL, "compressed exists: %d", (int)st);
        st = capme_extract_to_compressed_file(store, q, out, formats[i], true, &sum);
        CHECK(st == CAPME_OK && sum != NULL, "compressed replaced");
        capme_summary_free(sum);
    }
    snprintf(out, sizeof out, "%s/c-bzip2.pcap", tmp);
    sum = NULL;
    st = capme_extract_to_compressed_file(store, q, out, "bzip2", false, &sum);
    CHECK(st == CAPME_INVALID && sum == NULL, "bad format: %d", (int)st);
    CHECK(strstr(capme_last_error(), "compress") && strstr(capme_last_error(), "bzip2"),
          "message names compress: %s", capme_last_error());
    CHECK(access(out, F_OK) != 0, "nothing written for a bad format");
    st = capme_extract_to_compressed_file(store, q, out, NULL, false, &sum);
    CHECK(st == CAPME_NULL, "NULL format");
    capme_query_free(q);
    capme_store_free(store);
}

int main(int argc, char **argv) {
    if (argc != 12) {
        fprintf(stderr, "usage: %s STORE_DIR TMP_DIR BIG_STORE_DIR INDEX_DIR TUNNEL_STORE_DIR "
                        "SIP SPT DIP DPT STIME ETIME\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    CHECK(strlen(capme_version()) > 0, "version");
    printf("V %s\n", capme_version());
    CHECK(strcmp(capme_last_error(), "") == 0, "no error yet");

    capme_store *store = NULL;
    const char *roots[] = {argv[1]};
    capme_status st = capme_store_open(roots, 1, &store);
    CHECK(st == CAPME_OK && store != NULL, "store_open");
    if (!store) return 1;

    test_search(store);
    test_community_id(store);
    test_extract(store, argv[2]);
    test_errors(store);
    test_cancel(argv[3]);
    test_options(argv[1], argv[4]);
    test_limits(argv[1], argv[2]);
    test_transcript(store);
    test_url(store);
    test_fields(store);
    test_zeek(store, argv[2]);
    test_grow(store);
    test_sensors(argv[1], argv[2], argv[4]);
    test_tunnels(argv, argv[2]);
    capme_store_free(store);

    /* Two roots, one with a truncated capture file: the extraction succeeds with a warning. */
    {
        const char *two[] = {argv[1], argv[3]};
        char out[4096];
        capme_summary *sum = NULL;
        capme_query *q = NULL;
        store = NULL;
        snprintf(out, sizeof out, "%s/c-warn.pcap", argv[2]);
        st = capme_store_open(two, 2, &store);
        CHECK(st == CAPME_OK, "open two roots");
        st = capme_query_new_tuple(SIP, SPT, DIP, DPT, "tcp", STIME, ETIME, &q);
        CHECK(st == CAPME_OK, "query");
        st = capme_extract_to_file(store, q, out, &sum);
        CHECK(st == CAPME_OK && sum != NULL, "extract with a warning");
        if (sum) {
            printf("W %s\n", capme_summary_json(sum));
            CHECK(capme_summary_packets(sum) == 15, "15 packets despite the bad file");
            CHECK(capme_summary_warning_count(sum) == 1, "one warning");
            CHECK(capme_summary_warning(sum, 0) != NULL &&
                      strstr(capme_summary_warning(sum, 0), "corrupt capture") != NULL,
                  "warning text");
            CHECK(capme_summary_warning(sum, 1) == NULL, "one warning only");
            if (capme_summary_warning(sum, 0)) printf("WM %s\n", capme_summary_warning(sum, 0));
        }
        capme_summary_free(sum);
        capme_query_free(q);
        capme_store_free(store);
    }

    if (failures) {
        printf("FAILED: %d checks\n", failures);
        return 1;
    }
    printf("OK\n");
    return 0;
}

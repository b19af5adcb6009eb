/* minimal.c: extract one connection into a pcap file and print the summary as JSON.
 *
 *   cc minimal.c $(pkg-config --cflags --libs capme) -o minimal
 *   ./minimal /nsm/sensor_data flow.pcap
 *
 * capme-c/scripts/test.sh builds it against the installed library and runs it on the sample
 * store (examples/data/store): 15 packets, 3776 bytes. capme-c/README.md shows it in full
 * (tests/readme.rs keeps the two the same).
 */
#include <capme.h>
#include <stdio.h>

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s STORE_DIR OUT.pcap\n", argv[0]);
        return 2;
    }
    const char *roots[] = {argv[1]};
    capme_store *store = NULL;
    capme_query *query = NULL;
    capme_summary *summary = NULL;
    int rc = 1;

    capme_status st = capme_store_open(roots, 1, &store);
    if (st == CAPME_OK)
        st = capme_query_new_tuple("10.10.5.10", "52001", "10.10.5.20", "22", "tcp",
                                   "1718407577", "1718407578", &query);
    if (st == CAPME_OK) st = capme_extract_to_file(store, query, argv[2], &summary);
    if (st == CAPME_OK) {
        printf("%s\n", capme_summary_json(summary));
        rc = 0;
    } else {
        fprintf(stderr, "capme: %s\n", capme_last_error());
        rc = st == CAPME_NO_PACKETS ? 1 : st == CAPME_INVALID ? 2 : 3;
    }
    capme_summary_free(summary);
    capme_query_free(query);
    capme_store_free(store);
    return rc;
}

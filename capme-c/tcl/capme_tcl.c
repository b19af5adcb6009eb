/*
 * capme_tcl.c: the Tcl 8.6 extension of capme (package "capme"), built on the C API in
 * ../include/capme.h and linked with the static library, so that it depends on nothing but Tcl.
 *
 * Stubs-enabled (compiled with -DUSE_TCL_STUBS, linked with -ltclstub8.6); exports only
 * Capme_Init (see capme_tcl.map). In the shape of SQLite's tclsqlite.c: `capme::store NAME ...`
 * opens a store and creates the handle command NAME, as `sqlite3 db FILE` does; the handle's
 * subcommands are dispatched with Tcl_GetIndexFromObj:
 *
 *   capme::store NAME -store DIR ?-store DIR ...? ?-threads N? ?-indexdir DIR? ?-noindex BOOL?
 *                ?-maxpackets N? ?-maxbytes N? ?-maxwindow SECS? ?-sensor NAME ...?
 *                ?-nocatalogue BOOL?
 *   NAME extract QUERY (-out FILE | -archive DIR) ?-force BOOL? ?-decapsulate BOOL?
 *                ?-compress zstd|gzip|lz4?                          -> the summary dict
 *   NAME packets QUERY ?-var VARNAME? SCRIPT                         streams, as `db eval`
 *   NAME transcript QUERY ?-style capme|plain|json? ?-maxtx N?       -> text, or json segments
 *   NAME cancel                                                      stops a running packets
 *   NAME close                                                       = rename NAME {}
 *   capme::communityid -sip IP ?-spt N? -dip IP ?-dpt N? -proto PROTO ?-seed N? ?-nobase64?
 *
 * QUERY is -sip IP -spt PORT -dip IP -dpt PORT ?-proto PROTO? or -communityid ID, with
 * -stime TIME -etime TIME; or -url URL (a CapMe or SOC link; -stime/-etime replace its window);
 * or -zeek-uid UID -zeek-logs DIR; and ?-pad SECS? ?-whole-flow BOOL? ?-layer any|outer|inner?
 * (the CLI's --pad, --whole-flow and --layer). capme::extract, capme::packets, capme::transcript (capme.tcl),
 * capme::sguil::rawDataRequest and capme::sguil::xscript (sguil.tcl) are procs over the handle.
 *
 * Options are `-option value` pairs looked up with Tcl_GetIndexFromObj in NULL-terminated
 * tables. Errors are Tcl errors whose message is the capme CLI's (after "capme: ") and whose
 * -errorcode is {CAPME kind}, kind one of invalid io format store cancelled nopackets (capme-core's
 * error kinds, capme_status_kind()), or panic / null for bugs. Results (the summary dict, the
 * packet dicts) are built from the C accessors.
 */
#include <tcl.h>

#include <string.h>

#include "capme.h"

#define CAPME_EXPORT __attribute__((visibility("default")))

#ifndef TCL_SIZE_MAX
typedef int Tcl_Size; /* Tcl 8.6 before 8.6.14 */
#endif

/* The options a query takes, in the order of the usage messages. */
#define QUERY_USAGE                                                                              \
    "((-sip IP -spt PORT -dip IP -dpt PORT ?-proto PROTO? | -communityid ID) -stime TIME "       \
    "-etime TIME | -url URL ?-stime TIME -etime TIME? | -zeek-uid UID -zeek-logs DIR) "          \
    "?-pad SECS? ?-whole-flow BOOL? ?-layer any|outer|inner?"

/* Every option any command knows; each command has its own name table mapped onto these. */
enum CapmeOpt {
    OPT_STORE, OPT_SIP, OPT_SPT, OPT_DIP, OPT_DPT, OPT_PROTO, OPT_CID, OPT_STIME, OPT_ETIME,
    OPT_OUT, OPT_ARCHIVE, OPT_FORCE, OPT_SEED, OPT_NOBASE64, OPT_THREADS, OPT_INDEXDIR,
    OPT_NOINDEX, OPT_VAR, OPT_MAXPACKETS, OPT_MAXBYTES, OPT_MAXWINDOW, OPT_URL, OPT_ZEEKUID,
    OPT_ZEEKLOGS, OPT_PAD, OPT_WHOLEFLOW, OPT_STYLE, OPT_MAXTX, OPT_SENSOR, OPT_NOCATALOGUE,
    OPT_LAYER, OPT_DECAPSULATE, OPT_COMPRESS, OPT_COUNT
};

typedef struct CapmeOpts {
    Tcl_Obj *value[OPT_COUNT]; /* the last value given for each option, NULL if absent */
    int given[OPT_COUNT];      /* how often each option was given */
    Tcl_Obj *stores;           /* list of -store values (own reference) */
    Tcl_Obj *sensors;          /* list of -sensor values (own reference) */
} CapmeOpts;

/* A store handle: the ClientData of the command `capme::store NAME` created. */
typedef struct CapmeHandle {
    capme_store *store;
    Tcl_Command token;
    int depth;  /* extract/packets calls running (a packets script may nest them) */
    int closed; /* the command was deleted: a running packets loop ends */
    int cancel; /* NAME cancel was called during the running calls */
} CapmeHandle;

/* Sets a {CAPME kind} error from the last capme failure. */
static int CapmeStatusError(Tcl_Interp *interp, capme_status st) {
    Tcl_SetObjResult(interp, Tcl_NewStringObj(capme_last_error(), -1));
    Tcl_SetErrorCode(interp, "CAPME", capme_status_kind((int)st), (char *)NULL);
    return TCL_ERROR;
}

/* Sets a {CAPME invalid} error with a message of the extension's own (usage errors). */
static int CapmeUsageError(Tcl_Interp *interp, Tcl_Obj *msg) {
    Tcl_SetObjResult(interp, msg);
    Tcl_SetErrorCode(interp, "CAPME", "invalid", (char *)NULL);
    return TCL_ERROR;
}

/* Tcl_WrongNumArgs with the {CAPME invalid} error code. */
static int CapmeWrongNumArgs(Tcl_Interp *interp, int objc, Tcl_Obj *const objv[],
                             const char *usage) {
    Tcl_WrongNumArgs(interp, objc, objv, usage);
    Tcl_SetErrorCode(interp, "CAPME", "invalid", (char *)NULL);
    return TCL_ERROR;
}

static void OptsInit(CapmeOpts *o) {
    memset(o, 0, sizeof *o);
    o->stores = Tcl_NewListObj(0, NULL);
    Tcl_IncrRefCount(o->stores);
    o->sensors = Tcl_NewListObj(0, NULL);
    Tcl_IncrRefCount(o->sensors);
}

static void OptsFree(CapmeOpts *o) {
    Tcl_DecrRefCount(o->stores);
    Tcl_DecrRefCount(o->sensors);
}

/* Options that take no value. */
static int IsFlag(int id) {
    return id == OPT_NOBASE64;
}

/* Parses objv[first..objc) against `names` (NULL-terminated), whose entries map to `ids`. */
static int ParseOpts(Tcl_Interp *interp, int first, int objc, Tcl_Obj *const objv[],
                     const char *const *names, const int *ids, CapmeOpts *o) {
    int i;
    for (i = first; i < objc; i++) {
        int idx, id;
        if (Tcl_GetIndexFromObj(interp, objv[i], names, "option", 0, &idx) != TCL_OK) {
            Tcl_SetErrorCode(interp, "CAPME", "invalid", (char *)NULL);
            return TCL_ERROR;
        }
        id = ids[idx];
        o->given[id]++;
        if (IsFlag(id)) continue;
        if (i + 1 >= objc) {
            return CapmeUsageError(
                interp, Tcl_ObjPrintf("value for \"%s\" missing", Tcl_GetString(objv[i])));
        }
        i++;
        o->value[id] = objv[i];
        if (id == OPT_STORE && Tcl_ListObjAppendElement(interp, o->stores, objv[i]) != TCL_OK) {
            return TCL_ERROR;
        }
        if (id == OPT_SENSOR && Tcl_ListObjAppendElement(interp, o->sensors, objv[i]) != TCL_OK) {
            return TCL_ERROR;
        }
    }
    return TCL_OK;
}

static const char *OptStr(const CapmeOpts *o, int id) {
    return o->value[id] ? Tcl_GetString(o->value[id]) : NULL;
}

static int Require(Tcl_Interp *interp, const CapmeOpts *o, int id, const char *name) {
    if (o->value[id]) return TCL_OK;
    return CapmeUsageError(interp, Tcl_ObjPrintf("missing required option %s", name));
}

/* A boolean option's value (0 when absent). */
static int OptBool(Tcl_Interp *interp, const CapmeOpts *o, int id, int *out) {
    *out = 0;
    if (!o->value[id]) return TCL_OK;
    if (Tcl_GetBooleanFromObj(interp, o->value[id], out) != TCL_OK) {
        Tcl_SetErrorCode(interp, "CAPME", "invalid", (char *)NULL);
        return TCL_ERROR;
    }
    return TCL_OK;
}

/*
 * Builds the query from the query options: a 5-tuple (-sip/-spt/-dip/-dpt/-proto) or
 * -communityid with -stime/-etime, -url (CapMe or SOC link; -stime/-etime replace its window)
 * or -zeek-uid with -zeek-logs, -pad, and -layer (capme_query_set_layer). For the 5-tuple and Community ID forms which options
 * are present is checked here (usage errors, as before the other forms existed); everything
 * else, and every value, goes to capme_query_new_fields(), i.e. capme-core's QuerySpec (the
 * CLI's one entry point), with the CLI's messages naming the field. -whole-flow is applied
 * later (GrowQuery), as it searches the store.
 */
static int BuildQuery(Tcl_Interp *interp, const CapmeOpts *o, capme_query **q) {
    static const struct { int id; const char *field; } fields[] = {
        {OPT_SIP, "sip"},           {OPT_SPT, "spt"},          {OPT_DIP, "dip"},
        {OPT_DPT, "dpt"},           {OPT_PROTO, "proto"},      {OPT_CID, "community_id"},
        {OPT_URL, "url"},           {OPT_ZEEKUID, "zeek_uid"}, {OPT_ZEEKLOGS, "zeek_logs"},
        {OPT_STIME, "stime"},       {OPT_ETIME, "etime"},      {OPT_PAD, "pad"},
    };
    const char *names[sizeof fields / sizeof fields[0]];
    const char *values[sizeof fields / sizeof fields[0]];
    size_t i, n = 0;
    capme_status st;
    Tcl_DString logs;
    int pivot = o->value[OPT_URL] || o->value[OPT_ZEEKUID] || o->value[OPT_ZEEKLOGS];

    if (!pivot) {
        if (Require(interp, o, OPT_STIME, "-stime") != TCL_OK) return TCL_ERROR;
        if (Require(interp, o, OPT_ETIME, "-etime") != TCL_OK) return TCL_ERROR;
        if (o->value[OPT_CID]) {
            if (o->value[OPT_SIP] || o->value[OPT_SPT] || o->value[OPT_DIP] ||
                o->value[OPT_DPT] || o->value[OPT_PROTO]) {
                return CapmeUsageError(
                    interp, Tcl_NewStringObj("-communityid cannot be used with -sip, -spt, "
                                             "-dip, -dpt or -proto", -1));
            }
        } else if (!o->value[OPT_SIP] || !o->value[OPT_DIP]) {
            return CapmeUsageError(
                interp, Tcl_NewStringObj("missing required option -sip and -dip (or "
                                         "-communityid, -url or -zeek-uid)", -1));
        }
    }
    Tcl_DStringInit(&logs);
    for (i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        const char *v = OptStr(o, fields[i].id);
        if (!v) continue;
        if (fields[i].id == OPT_ZEEKLOGS) {
            v = Tcl_TranslateFileName(interp, v, &logs);
            if (!v) {
                Tcl_DStringFree(&logs);
                Tcl_SetErrorCode(interp, "CAPME", "invalid", (char *)NULL);
                return TCL_ERROR;
            }
        }
        names[n] = fields[i].field;
        values[n] = v;
        n++;
    }
    st = capme_query_new_fields(names, values, n, q);
    Tcl_DStringFree(&logs);
    if (st == CAPME_OK && o->value[OPT_LAYER]) {
        st = capme_query_set_layer(*q, OptStr(o, OPT_LAYER));
        if (st != CAPME_OK) {
            capme_query_free(*q);
            *q = NULL;
        }
    }
    return st == CAPME_OK ? TCL_OK : CapmeStatusError(interp, st);
}

/*
 * -whole-flow BOOL: when true, replaces *q with the query over the window grown to the whole
 * flow (capme_store_grow_window, the CLI's --whole-flow). Runs inside HandleEnter (it searches,
 * and NAME cancel stops it).
 */
static int GrowQuery(Tcl_Interp *interp, capme_store *store, const CapmeOpts *o,
                     capme_query **q) {
    capme_query *grown = NULL;
    capme_status st;
    int whole = 0;
    if (OptBool(interp, o, OPT_WHOLEFLOW, &whole) != TCL_OK) return TCL_ERROR;
    if (!whole) return TCL_OK;
    st = capme_store_grow_window(store, *q, &grown, NULL);
    if (st != CAPME_OK) return CapmeStatusError(interp, st);
    capme_query_free(*q);
    *q = grown;
    return TCL_OK;
}

/* Epoch nanoseconds as float seconds (secs + subsec / 1e9). */
static Tcl_Obj *SecondsObj(int64_t ns) {
    int64_t secs = ns / 1000000000;
    int64_t sub = ns % 1000000000;
    if (sub < 0) {
        sub += 1000000000;
        secs -= 1;
    }
    return Tcl_NewDoubleObj((double)secs + (double)sub / 1e9);
}

static void DictPut(Tcl_Obj *dict, const char *key, Tcl_Obj *value) {
    Tcl_DictObjPut(NULL, dict, Tcl_NewStringObj(key, -1), value);
}

/* A path the library returned, as a Tcl string (from the system encoding, as Tcl's file
 * commands take it). */
static Tcl_Obj *PathObj(const char *path) {
    Tcl_DString ds;
    Tcl_Obj *obj;
    Tcl_ExternalToUtfDString(NULL, path, -1, &ds);
    obj = Tcl_NewStringObj(Tcl_DStringValue(&ds), Tcl_DStringLength(&ds));
    Tcl_DStringFree(&ds);
    return obj;
}

/*
 * The summary as a dict with every key of `capme extract --json`, in its order, built from
 * the accessors: numbers as integers, first_ts/last_ts as the library's doubles, cached as
 * true/false (as the JSON writes it; Tcl reads both as booleans), an absent value (JSON null)
 * as "", warning_messages as a list, encapsulated as a dict {packets N by {KIND n ...}}.
 */
static Tcl_Obj *SummaryDict(const capme_summary *s) {
    Tcl_Obj *d = Tcl_NewDictObj(), *warnings = Tcl_NewListObj(0, NULL);
    const char *str;
    double secs;
    int64_t ns;
    size_t i, n = capme_summary_warning_count(s);

    DictPut(d, "packets", Tcl_NewWideIntObj((Tcl_WideInt)capme_summary_packets(s)));
    DictPut(d, "bytes", Tcl_NewWideIntObj((Tcl_WideInt)capme_summary_bytes(s)));
    DictPut(d, "first_ts", capme_summary_first_ts(s, &secs) ? Tcl_NewDoubleObj(secs) : Tcl_NewObj());
    DictPut(d, "last_ts", capme_summary_last_ts(s, &secs) ? Tcl_NewDoubleObj(secs) : Tcl_NewObj());
    str = capme_summary_output(s);
    DictPut(d, "output", str ? PathObj(str) : Tcl_NewObj());
    str = capme_summary_community_id(s);
    DictPut(d, "community_id", Tcl_NewStringObj(str ? str : "", -1));
    DictPut(d, "files_scanned", Tcl_NewWideIntObj((Tcl_WideInt)capme_summary_files_scanned(s)));
    DictPut(d, "files_indexed", Tcl_NewWideIntObj((Tcl_WideInt)capme_summary_files_indexed(s)));
    DictPut(d, "bytes_read", Tcl_NewWideIntObj((Tcl_WideInt)capme_summary_bytes_read(s)));
    DictPut(d, "elapsed_ms", Tcl_NewWideIntObj((Tcl_WideInt)capme_summary_elapsed_ms(s)));
    DictPut(d, "cached", Tcl_NewStringObj(capme_summary_cached(s) ? "true" : "false", -1));
    DictPut(d, "warnings", Tcl_NewWideIntObj((Tcl_WideInt)n));
    for (i = 0; i < n; i++) {
        str = capme_summary_warning(s, i);
        Tcl_ListObjAppendElement(NULL, warnings, Tcl_NewStringObj(str ? str : "", -1));
    }
    DictPut(d, "warning_messages", warnings);
    DictPut(d, "first_ts_ns",
            capme_summary_first_ts_ns(s, &ns) ? Tcl_NewWideIntObj((Tcl_WideInt)ns) : Tcl_NewObj());
    DictPut(d, "last_ts_ns",
            capme_summary_last_ts_ns(s, &ns) ? Tcl_NewWideIntObj((Tcl_WideInt)ns) : Tcl_NewObj());
    DictPut(d, "truncated", Tcl_NewStringObj(capme_summary_truncated(s) ? "true" : "false", -1));
    {
        /* encapsulated {packets N by {kind n ...}}, as the JSON's object. */
        Tcl_Obj *enc = Tcl_NewDictObj(), *by = Tcl_NewDictObj();
        size_t k, kinds = capme_summary_encapsulation_count(s);
        uint64_t count = 0;
        for (k = 0; k < kinds; k++) {
            str = capme_summary_encapsulation(s, k, &count);
            if (str) {
                DictPut(by, str, Tcl_NewWideIntObj((Tcl_WideInt)count));
            }
        }
        DictPut(enc, "packets", Tcl_NewWideIntObj((Tcl_WideInt)capme_summary_encapsulated(s)));
        DictPut(enc, "by", by);
        DictPut(d, "encapsulated", enc);
    }
    return d;
}

/* A packet as a dict: ts ts_ns caplen orig_len linktype sensor file data. */
static Tcl_Obj *PacketDict(const capme_packet *p) {
    Tcl_Obj *d = Tcl_NewDictObj();
    DictPut(d, "ts", SecondsObj(p->ts_ns));
    DictPut(d, "ts_ns", Tcl_NewWideIntObj((Tcl_WideInt)p->ts_ns));
    DictPut(d, "caplen", Tcl_NewWideIntObj((Tcl_WideInt)p->caplen));
    DictPut(d, "orig_len", Tcl_NewWideIntObj((Tcl_WideInt)p->orig_len));
    DictPut(d, "linktype", Tcl_NewWideIntObj((Tcl_WideInt)p->linktype));
    DictPut(d, "sensor", Tcl_NewStringObj(p->sensor, -1));
    DictPut(d, "file", PathObj(p->file));
    DictPut(d, "data", Tcl_NewByteArrayObj(p->data, (Tcl_Size)p->caplen));
    return d;
}

/* The names of the query options and their ids, a prefix of each subcommand's table. */
#define QUERY_NAMES                                                                              \
    "-sip", "-spt", "-dip", "-dpt", "-proto", "-communityid", "-stime", "-etime", "-url",        \
        "-zeek-uid", "-zeek-logs", "-pad", "-whole-flow", "-layer"
#define QUERY_IDS                                                                                \
    OPT_SIP, OPT_SPT, OPT_DIP, OPT_DPT, OPT_PROTO, OPT_CID, OPT_STIME, OPT_ETIME, OPT_URL,       \
        OPT_ZEEKUID, OPT_ZEEKLOGS, OPT_PAD, OPT_WHOLEFLOW, OPT_LAYER

/* Starts an extract/packets call: the first (not nested) one clears the store's cancel flag, so
 * that `NAME cancel` stops what runs now, not what runs next; a call nested in a packets script
 * after `NAME cancel` fails at once (the library would only notice the flag after reading a few
 * thousand records). Returns TCL_ERROR, with {CAPME cancelled} set, when cancelled. */
static int HandleEnter(CapmeHandle *h, Tcl_Interp *interp) {
    if (h->depth == 0) {
        h->cancel = 0;
        capme_store_set_cancelled(h->store, false);
    } else if (h->cancel) {
        Tcl_SetObjResult(interp, Tcl_NewStringObj("cancelled", -1));
        Tcl_SetErrorCode(interp, "CAPME", capme_status_kind(CAPME_CANCELLED), (char *)NULL);
        return TCL_ERROR;
    }
    h->depth++;
    return TCL_OK;
}

static void HandleLeave(CapmeHandle *h) {
    h->depth--;
}

/*
 * NAME extract QUERY (-out FILE | -archive DIR) ?-force BOOL? ?-decapsulate BOOL?
 *                    ?-compress zstd|gzip|lz4?
 *
 * Writes the flow's packets to the new file FILE (pcap; pcapng when the inputs differ or FILE
 * ends in .pcapng; an existing regular file is replaced only when -force is true) or into the
 * archive under DIR (an existing archive file is returned without scanning unless -force is
 * true) and returns the summary dict (SummaryDict). -decapsulate true writes each tunnel packet
 * as its innermost frame (the CLI's --decapsulate; not with -archive). -compress compresses
 * FILE, adding the format's suffix (.zst, .gz, .lz4) unless FILE has it (the CLI's --compress;
 * the dict's output is the name written; not with -archive).
 */
static int HandleExtract(CapmeHandle *h, Tcl_Interp *interp, int objc, Tcl_Obj *const objv[]) {
    static const char *const names[] = {QUERY_NAMES, "-out", "-archive", "-force",
                                        "-decapsulate", "-compress", NULL};
    static const int ids[] = {QUERY_IDS, OPT_OUT, OPT_ARCHIVE, OPT_FORCE, OPT_DECAPSULATE,
                              OPT_COMPRESS};
    CapmeOpts o;
    capme_query *q = NULL;
    capme_summary *sum = NULL;
    capme_status st;
    Tcl_DString ds;
    const char *path;
    int force = 0, decap = 0, rc = TCL_ERROR;

    if (objc < 3) {
        return CapmeWrongNumArgs(interp, 2, objv,
                                 QUERY_USAGE " (-out FILE | -archive DIR) ?-force BOOL? "
                                             "?-decapsulate BOOL? ?-compress zstd|gzip|lz4?");
    }
    OptsInit(&o);
    Tcl_DStringInit(&ds);
    if (ParseOpts(interp, 2, objc, objv, names, ids, &o) != TCL_OK) goto done;
    if ((o.value[OPT_OUT] != NULL) == (o.value[OPT_ARCHIVE] != NULL)) {
        CapmeUsageError(interp, Tcl_NewStringObj("exactly one of -out FILE or -archive DIR is "
                                                 "required", -1));
        goto done;
    }
    if (OptBool(interp, &o, OPT_FORCE, &force) != TCL_OK) goto done;
    if (OptBool(interp, &o, OPT_DECAPSULATE, &decap) != TCL_OK) goto done;
    if (o.value[OPT_COMPRESS] && o.value[OPT_ARCHIVE]) {
        CapmeUsageError(interp, Tcl_NewStringObj("-compress cannot be used with -archive (an "
                                                 "archive keeps plain pcap files)", -1));
        goto done;
    }
    if (BuildQuery(interp, &o, &q) != TCL_OK) goto done;
    st = capme_query_set_decapsulate(q, decap != 0);
    if (st != CAPME_OK) {
        CapmeStatusError(interp, st);
        goto done;
    }
    path = Tcl_TranslateFileName(
        interp, Tcl_GetString(o.value[OPT_OUT] ? o.value[OPT_OUT] : o.value[OPT_ARCHIVE]), &ds);
    if (!path) {
        Tcl_SetErrorCode(interp, "CAPME", "invalid", (char *)NULL);
        goto done;
    }
    if (HandleEnter(h, interp) != TCL_OK) goto done;
    if (GrowQuery(interp, h->store, &o, &q) != TCL_OK) {
        HandleLeave(h);
        goto done;
    }
    if (o.value[OPT_ARCHIVE]) {
        st = capme_extract_to_archive(h->store, q, path, force != 0, &sum);
    } else if (o.value[OPT_COMPRESS]) {
        st = capme_extract_to_compressed_file(h->store, q, path, OptStr(&o, OPT_COMPRESS),
                                              force != 0, &sum);
    } else if (force) {
        st = capme_extract_to_file_replacing(h->store, q, path, &sum);
    } else {
        st = capme_extract_to_file(h->store, q, path, &sum);
    }
    HandleLeave(h);
    if (st != CAPME_OK) {
        CapmeStatusError(interp, st);
        goto done;
    }
    Tcl_SetObjResult(interp, SummaryDict(sum));
    rc = TCL_OK;
done:
    capme_summary_free(sum);
    capme_query_free(q);
    Tcl_DStringFree(&ds);
    OptsFree(&o);
    return rc;
}

/*
 * NAME packets QUERY ?-var VARNAME? SCRIPT
 *
 * Evaluates SCRIPT once per matched packet, in timestamp order, with VARNAME (default p) set
 * to the packet dict (PacketDict). Streams: one packet is held at a time. As in `db eval`,
 * break ends the loop, continue goes on with the next packet, return and errors propagate (an
 * error's -errorinfo names the script line). The result is "". Closing the handle from the
 * script ends the loop after that evaluation; `NAME cancel` from the script makes the loop fail
 * with {CAPME cancelled} once the script returns.
 */
static int HandlePackets(CapmeHandle *h, Tcl_Interp *interp, int objc, Tcl_Obj *const objv[]) {
    static const char *const names[] = {QUERY_NAMES, "-var", NULL};
    static const int ids[] = {QUERY_IDS, OPT_VAR};
    CapmeOpts o;
    capme_query *q = NULL;
    capme_search *search = NULL;
    capme_packet p;
    capme_status st;
    Tcl_Obj *var = NULL, *script = NULL;
    int rc = TCL_ERROR, entered = 0;

    if (objc < 3 || (objc - 3) % 2 != 0) {
        return CapmeWrongNumArgs(interp, 2, objv, QUERY_USAGE " ?-var VARNAME? SCRIPT");
    }
    OptsInit(&o);
    if (ParseOpts(interp, 2, objc - 1, objv, names, ids, &o) != TCL_OK) goto done;
    if (BuildQuery(interp, &o, &q) != TCL_OK) goto done;
    var = o.value[OPT_VAR] ? o.value[OPT_VAR] : Tcl_NewStringObj("p", 1);
    Tcl_IncrRefCount(var);
    script = objv[objc - 1];
    Tcl_IncrRefCount(script);
    if (HandleEnter(h, interp) != TCL_OK) goto done;
    entered = 1;
    if (GrowQuery(interp, h->store, &o, &q) != TCL_OK) goto done;
    st = capme_search_new(h->store, q, &search);
    if (st != CAPME_OK) {
        CapmeStatusError(interp, st);
        goto done;
    }
    rc = TCL_OK;
    while (!h->closed) {
        Tcl_Obj *d;
        st = capme_search_next(search, &p);
        if (st == CAPME_DONE) break;
        if (st != CAPME_OK) {
            rc = CapmeStatusError(interp, st);
            break;
        }
        d = PacketDict(&p);
        Tcl_IncrRefCount(d);
        if (Tcl_ObjSetVar2(interp, var, NULL, d, TCL_LEAVE_ERR_MSG) == NULL) {
            Tcl_DecrRefCount(d);
            rc = TCL_ERROR;
            break;
        }
        Tcl_DecrRefCount(d);
        rc = Tcl_EvalObjEx(interp, script, 0);
        if ((rc == TCL_OK || rc == TCL_CONTINUE) && h->cancel) {
            /* The library looks at the cancel flag while it reads; packets it had read ahead
             * would still come: the loop stops here, as the library does. */
            Tcl_SetObjResult(interp, Tcl_NewStringObj("cancelled", -1));
            Tcl_SetErrorCode(interp, "CAPME", capme_status_kind(CAPME_CANCELLED), (char *)NULL);
            rc = TCL_ERROR;
            break;
        }
        if (rc == TCL_OK || rc == TCL_CONTINUE) {
            rc = TCL_OK;
            continue;
        }
        if (rc == TCL_BREAK) {
            rc = TCL_OK;
        } else if (rc == TCL_ERROR) {
            Tcl_AppendObjToErrorInfo(
                interp, Tcl_ObjPrintf("\n    (\"packets\" script line %d)", Tcl_GetErrorLine(interp)));
        }
        break; /* break, error, return and other codes end the loop */
    }
    if (rc == TCL_OK) Tcl_ResetResult(interp);
done:
    if (entered) HandleLeave(h);
    if (script) Tcl_DecrRefCount(script);
    if (var) Tcl_DecrRefCount(var);
    capme_search_free(search);
    capme_query_free(q);
    OptsFree(&o);
    return rc;
}

/* A segment as a dict: direction ts ts_ns offset payload (a byte array). */
static Tcl_Obj *SegmentDict(const capme_segment *seg) {
    Tcl_Obj *d = Tcl_NewDictObj();
    DictPut(d, "direction", Tcl_NewStringObj(seg->direction, -1));
    DictPut(d, "ts", SecondsObj(seg->ts_ns));
    DictPut(d, "ts_ns", Tcl_NewWideIntObj((Tcl_WideInt)seg->ts_ns));
    DictPut(d, "offset", Tcl_NewWideIntObj((Tcl_WideInt)seg->offset));
    DictPut(d, "payload", Tcl_NewByteArrayObj(seg->payload, (Tcl_Size)seg->len));
    return d;
}

/*
 * NAME transcript QUERY ?-style capme|plain|json? ?-maxtx N?
 *
 * Returns the transcript of the flow, as `capme transcript` prints it: with -style capme (the
 * sguil/CapMe xscript layout) or plain (the default) the text; with -style json a list of
 * segment dicts (SegmentDict: the raw stream bytes of each TCP segment or UDP datagram, in
 * delivery order), built from the C accessors. -maxtx: the most payload bytes transcribed
 * (default 500000); the text then ends with a notice.
 */
static int HandleTranscript(CapmeHandle *h, Tcl_Interp *interp, int objc, Tcl_Obj *const objv[]) {
    static const char *const names[] = {QUERY_NAMES, "-style", "-maxtx", NULL};
    static const int ids[] = {QUERY_IDS, OPT_STYLE, OPT_MAXTX};
    CapmeOpts o;
    capme_query *q = NULL;
    capme_transcript_result *r = NULL;
    capme_status st;
    Tcl_WideInt maxtx = 0;
    const char *style;
    int rc = TCL_ERROR;

    if (objc < 3) {
        return CapmeWrongNumArgs(interp, 2, objv,
                                 QUERY_USAGE " ?-style capme|plain|json? ?-maxtx N?");
    }
    OptsInit(&o);
    if (ParseOpts(interp, 2, objc, objv, names, ids, &o) != TCL_OK) goto done;
    if (o.value[OPT_MAXTX] &&
        (Tcl_GetWideIntFromObj(NULL, o.value[OPT_MAXTX], &maxtx) != TCL_OK || maxtx < 1)) {
        CapmeUsageError(interp, Tcl_ObjPrintf("invalid maxtx \"%s\": expected a whole number >= 1",
                                              Tcl_GetString(o.value[OPT_MAXTX])));
        goto done;
    }
    style = OptStr(&o, OPT_STYLE);
    if (BuildQuery(interp, &o, &q) != TCL_OK) goto done;
    if (HandleEnter(h, interp) != TCL_OK) goto done;
    if (GrowQuery(interp, h->store, &o, &q) != TCL_OK) {
        HandleLeave(h);
        goto done;
    }
    st = capme_transcript_build(h->store, q, style, (uint64_t)maxtx, &r);
    HandleLeave(h);
    if (st != CAPME_OK) {
        CapmeStatusError(interp, st);
        goto done;
    }
    if (style && strcmp(style, "json") == 0) {
        Tcl_Obj *list = Tcl_NewListObj(0, NULL);
        capme_segment seg;
        size_t i, n = capme_transcript_segment_count(r);
        for (i = 0; i < n; i++) {
            if (capme_transcript_segment(r, i, &seg)) {
                Tcl_ListObjAppendElement(NULL, list, SegmentDict(&seg));
            }
        }
        Tcl_SetObjResult(interp, list);
    } else {
        Tcl_SetObjResult(interp, Tcl_NewStringObj(capme_transcript_result_text(r), -1));
    }
    rc = TCL_OK;
done:
    capme_transcript_result_free(r);
    capme_query_free(q);
    OptsFree(&o);
    return rc;
}

/* Frees a handle once no call uses it any more (Tcl_EventuallyFree). */
static void HandleFree(char *cd) {
    CapmeHandle *h = (CapmeHandle *)cd;
    capme_store_free(h->store);
    ckfree(cd);
}

/* The handle command was deleted (NAME close, rename NAME {}, interp deleted). */
static void HandleDeleted(ClientData cd) {
    CapmeHandle *h = (CapmeHandle *)cd;
    h->closed = 1;
    Tcl_EventuallyFree(cd, HandleFree);
}

/*
 * NAME subcommand ?arg ...?
 *
 * The handle command: extract, packets, transcript, cancel, close (see above).
 */
static int HandleObjCmd(ClientData cd, Tcl_Interp *interp, int objc, Tcl_Obj *const objv[]) {
    static const char *const subs[] = {"cancel", "close", "extract", "packets", "transcript",
                                       NULL};
    enum { SUB_CANCEL, SUB_CLOSE, SUB_EXTRACT, SUB_PACKETS, SUB_TRANSCRIPT };
    CapmeHandle *h = (CapmeHandle *)cd;
    int idx, rc = TCL_OK;

    if (objc < 2) return CapmeWrongNumArgs(interp, 1, objv, "subcommand ?arg ...?");
    if (Tcl_GetIndexFromObj(interp, objv[1], subs, "subcommand", 0, &idx) != TCL_OK) {
        Tcl_SetErrorCode(interp, "CAPME", "invalid", (char *)NULL);
        return TCL_ERROR;
    }
    Tcl_Preserve(h);
    switch (idx) {
    case SUB_CANCEL:
        /* NAME cancel: the running extract and packets calls of this handle (NAME cancel runs in
         * a packets script) fail with {CAPME cancelled}: a packets loop once the script returns,
         * an extract soon after. Without a running call it does nothing: the flag is cleared
         * when the next call starts. */
        if (objc != 2) {
            rc = CapmeWrongNumArgs(interp, 2, objv, NULL);
            break;
        }
        if (h->depth > 0) {
            h->cancel = 1;
            capme_store_cancel(h->store);
        }
        break;
    case SUB_CLOSE:
        /* NAME close: deletes the command, which frees the store (after a running call ends). */
        if (objc != 2) {
            rc = CapmeWrongNumArgs(interp, 2, objv, NULL);
            break;
        }
        Tcl_DeleteCommandFromToken(interp, h->token);
        break;
    case SUB_EXTRACT:
        rc = HandleExtract(h, interp, objc, objv);
        break;
    case SUB_PACKETS:
        rc = HandlePackets(h, interp, objc, objv);
        break;
    case SUB_TRANSCRIPT:
        rc = HandleTranscript(h, interp, objc, objv);
        break;
    }
    Tcl_Release(h);
    return rc;
}

/*
 * A limit option's value (-maxpackets, -maxbytes, -maxwindow): an integer >= 0 as Tcl reads
 * it (0 is then rejected by the C API, naming the field); anything else is a {CAPME invalid}
 * error naming the field and the value.
 */
static int OptLimit(Tcl_Interp *interp, const CapmeOpts *o, int id, const char *field,
                    Tcl_WideInt *out) {
    if (Tcl_GetWideIntFromObj(NULL, o->value[id], out) != TCL_OK || *out < 0) {
        return CapmeUsageError(interp, Tcl_ObjPrintf("invalid %s \"%s\": expected an integer >= 1",
                                                     field, Tcl_GetString(o->value[id])));
    }
    return TCL_OK;
}

/*
 * capme::store NAME -store DIR ?-store DIR ...? ?-threads N? ?-indexdir DIR? ?-noindex BOOL?
 *              ?-maxpackets N? ?-maxbytes N? ?-maxwindow SECS? ?-sensor NAME ...?
 *              ?-nocatalogue BOOL?
 *
 * Opens a store over every -store root (a directory of capture files or one capture file) and
 * creates the command NAME (as Tcl_CreateObjCommand places it: a name without namespace
 * qualifiers is global; an existing command NAME is replaced). -threads: scan threads (default:
 * the available cores; 0 is rejected); -indexdir: where flow indexes are read instead of
 * <root>/.capme; -noindex true: always scan; -maxpackets/-maxbytes: an extraction writes at
 * most N packets / captured bytes (defaults 999999 and 2147483648; a capped summary says
 * truncated true); -maxwindow: longer windows are refused (seconds, default 86400); -sensor
 * (repeatable): every query reads only these sensors' capture files (the CLI's --sensor; a
 * name the store does not have makes each query fail with {CAPME invalid}, naming it and
 * listing the store's sensors); -nocatalogue true: never read the store catalogue that
 * `capme index` keeps (the CLI's --no-catalogue). Returns NAME.
 */
static int CapmeStoreCmd(ClientData cd, Tcl_Interp *interp, int objc, Tcl_Obj *const objv[]) {
    static const char *const names[] = {"-store",     "-threads",  "-indexdir",
                                        "-noindex",   "-maxpackets", "-maxbytes",
                                        "-maxwindow", "-sensor",   "-nocatalogue", NULL};
    static const int ids[] = {OPT_STORE,     OPT_THREADS,    OPT_INDEXDIR,
                              OPT_NOINDEX,   OPT_MAXPACKETS, OPT_MAXBYTES,
                              OPT_MAXWINDOW, OPT_SENSOR,     OPT_NOCATALOGUE};
    CapmeOpts o;
    capme_options *opts = NULL;
    capme_store *store = NULL;
    capme_status st = CAPME_OK;
    CapmeHandle *h;
    Tcl_Size n = 0, i;
    Tcl_Obj **elems;
    Tcl_DString *ds = NULL, dsIndex;
    const char **roots = NULL, **sensors = NULL;
    Tcl_Size nsensors = 0;
    Tcl_Obj **sensorObjs;
    int noindex = 0, nocatalogue = 0, rc = TCL_ERROR;
    (void)cd;

    if (objc < 2) {
        return CapmeWrongNumArgs(interp, 1, objv,
                                 "NAME -store DIR ?-store DIR ...? ?-threads N? ?-indexdir DIR? "
                                 "?-noindex BOOL? ?-maxpackets N? ?-maxbytes N? ?-maxwindow SECS? "
                                 "?-sensor NAME ...? ?-nocatalogue BOOL?");
    }
    OptsInit(&o);
    Tcl_DStringInit(&dsIndex);
    if (ParseOpts(interp, 2, objc, objv, names, ids, &o) != TCL_OK) goto done;
    opts = capme_options_new();
    if (o.value[OPT_THREADS]) {
        Tcl_WideInt t;
        if (Tcl_GetWideIntFromObj(NULL, o.value[OPT_THREADS], &t) != TCL_OK || t < 0) {
            CapmeUsageError(interp,
                            Tcl_ObjPrintf("invalid threads \"%s\": expected a number of scan "
                                          "threads >= 1", Tcl_GetString(o.value[OPT_THREADS])));
            goto done;
        }
        st = capme_options_set_threads(opts, (size_t)t);
    }
    if (st == CAPME_OK && o.value[OPT_INDEXDIR]) {
        const char *dir = Tcl_TranslateFileName(interp, Tcl_GetString(o.value[OPT_INDEXDIR]),
                                                &dsIndex);
        if (!dir) {
            Tcl_SetErrorCode(interp, "CAPME", "invalid", (char *)NULL);
            goto done;
        }
        st = capme_options_set_index_dir(opts, dir);
    }
    if (st == CAPME_OK) {
        if (OptBool(interp, &o, OPT_NOINDEX, &noindex) != TCL_OK) goto done;
        st = capme_options_set_no_index(opts, noindex != 0);
    }
    if (st == CAPME_OK && o.value[OPT_MAXPACKETS]) {
        Tcl_WideInt v;
        if (OptLimit(interp, &o, OPT_MAXPACKETS, "max_packets", &v) != TCL_OK) goto done;
        st = capme_options_set_max_packets(opts, (uint64_t)v);
    }
    if (st == CAPME_OK && o.value[OPT_MAXBYTES]) {
        Tcl_WideInt v;
        if (OptLimit(interp, &o, OPT_MAXBYTES, "max_bytes", &v) != TCL_OK) goto done;
        st = capme_options_set_max_bytes(opts, (uint64_t)v);
    }
    if (st == CAPME_OK && o.value[OPT_MAXWINDOW]) {
        Tcl_WideInt v;
        if (OptLimit(interp, &o, OPT_MAXWINDOW, "max_window", &v) != TCL_OK) goto done;
        st = capme_options_set_max_window_secs(opts, (uint64_t)v);
    }
    if (st == CAPME_OK) {
        /* Sensor names are UTF-8 text (what a packet dict's sensor holds), passed as is. */
        if (Tcl_ListObjGetElements(interp, o.sensors, &nsensors, &sensorObjs) != TCL_OK) goto done;
        sensors = (const char **)ckalloc(sizeof(char *) * (nsensors ? nsensors : 1));
        for (i = 0; i < nsensors; i++) sensors[i] = Tcl_GetString(sensorObjs[i]);
        st = capme_options_set_sensors(opts, sensors, (size_t)nsensors);
    }
    if (st == CAPME_OK) {
        if (OptBool(interp, &o, OPT_NOCATALOGUE, &nocatalogue) != TCL_OK) goto done;
        st = capme_options_set_no_catalogue(opts, nocatalogue != 0);
    }
    if (st != CAPME_OK) {
        CapmeStatusError(interp, st);
        goto done;
    }

    /* The roots, file names translated (~ and the like). */
    if (Tcl_ListObjGetElements(interp, o.stores, &n, &elems) != TCL_OK) goto done;
    ds = (Tcl_DString *)ckalloc(sizeof(Tcl_DString) * (n ? n : 1));
    roots = (const char **)ckalloc(sizeof(char *) * (n ? n : 1));
    for (i = 0; i < n; i++) Tcl_DStringInit(&ds[i]);
    for (i = 0; i < n; i++) {
        roots[i] = Tcl_TranslateFileName(interp, Tcl_GetString(elems[i]), &ds[i]);
        if (!roots[i]) {
            Tcl_SetErrorCode(interp, "CAPME", "invalid", (char *)NULL);
            goto done;
        }
    }
    st = capme_store_open_with(roots, (size_t)n, opts, &store);
    if (st != CAPME_OK) {
        CapmeStatusError(interp, st);
        goto done;
    }
    h = (CapmeHandle *)ckalloc(sizeof *h);
    memset(h, 0, sizeof *h);
    h->store = store;
    store = NULL;
    h->token = Tcl_CreateObjCommand(interp, Tcl_GetString(objv[1]), HandleObjCmd, h, HandleDeleted);
    Tcl_SetObjResult(interp, objv[1]);
    rc = TCL_OK;
done:
    if (ds) {
        for (i = 0; i < n; i++) Tcl_DStringFree(&ds[i]);
        ckfree((char *)ds);
    }
    if (roots) ckfree((char *)roots);
    if (sensors) ckfree((char *)sensors);
    capme_store_free(store);
    capme_options_free(opts);
    Tcl_DStringFree(&dsIndex);
    OptsFree(&o);
    return rc;
}

/*
 * capme::communityid -sip IP ?-spt N? -dip IP ?-dpt N? -proto PROTO ?-seed N? ?-nobase64?
 *
 * Returns the Community ID (v1) of the flow tuple, "1:" + base64 (or hex with -nobase64),
 * as `capme community-id`. For ICMP -spt/-dpt are type and code.
 */
static int CapmeCommunityIdCmd(ClientData cd, Tcl_Interp *interp, int objc,
                               Tcl_Obj *const objv[]) {
    static const char *const names[] = {"-sip", "-spt", "-dip", "-dpt", "-proto", "-seed",
                                        "-nobase64", NULL};
    static const int ids[] = {OPT_SIP, OPT_SPT, OPT_DIP, OPT_DPT, OPT_PROTO, OPT_SEED,
                              OPT_NOBASE64};
    CapmeOpts o;
    int seed = 0, rc = TCL_ERROR;
    char *id = NULL;
    capme_status st;
    (void)cd;

    if (objc < 2) {
        return CapmeWrongNumArgs(interp, 1, objv,
                                 "-sip IP ?-spt N? -dip IP ?-dpt N? -proto PROTO ?-seed N? "
                                 "?-nobase64?");
    }
    OptsInit(&o);
    if (ParseOpts(interp, 1, objc, objv, names, ids, &o) != TCL_OK) goto done;
    if (Require(interp, &o, OPT_SIP, "-sip") != TCL_OK) goto done;
    if (Require(interp, &o, OPT_DIP, "-dip") != TCL_OK) goto done;
    if (Require(interp, &o, OPT_PROTO, "-proto") != TCL_OK) goto done;
    if (o.value[OPT_SEED]) {
        if (Tcl_GetIntFromObj(NULL, o.value[OPT_SEED], &seed) != TCL_OK || seed < 0 ||
            seed > 65535) {
            CapmeUsageError(interp, Tcl_ObjPrintf("invalid seed \"%s\": expected 0-65535",
                                                  Tcl_GetString(o.value[OPT_SEED])));
            goto done;
        }
    }
    st = capme_community_id(OptStr(&o, OPT_SIP), OptStr(&o, OPT_SPT), OptStr(&o, OPT_DIP),
                            OptStr(&o, OPT_DPT), OptStr(&o, OPT_PROTO), (uint16_t)seed,
                            o.given[OPT_NOBASE64] == 0, &id);
    if (st != CAPME_OK) {
        CapmeStatusError(interp, st);
        goto done;
    }
    Tcl_SetObjResult(interp, Tcl_NewStringObj(id, -1));
    rc = TCL_OK;
done:
    capme_string_free(id);
    OptsFree(&o);
    return rc;
}

/* The package's entry point, called by [load ... Capme]. */
CAPME_EXPORT int Capme_Init(Tcl_Interp *interp) {
    if (Tcl_InitStubs(interp, "8.6", 0) == NULL) return TCL_ERROR;
    if (Tcl_FindNamespace(interp, "::capme", NULL, 0) == NULL &&
        Tcl_CreateNamespace(interp, "::capme", NULL, NULL) == NULL) {
        return TCL_ERROR;
    }
    Tcl_CreateObjCommand(interp, "::capme::store", CapmeStoreCmd, NULL, NULL);
    Tcl_CreateObjCommand(interp, "::capme::communityid", CapmeCommunityIdCmd, NULL, NULL);
    Tcl_SetVar2(interp, "::capme::version", NULL, capme_version(), 0);
    return Tcl_PkgProvide(interp, "capme", capme_version());
}

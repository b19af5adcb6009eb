/*
 * capme_tcl.c: the Tcl 8.6 extension of capme (package "capme"), built on the C API in
 * ../include/capme.h and linked with the static library, so that it depends on nothing but Tcl.
 *
 * Stubs-enabled (compiled with -DUSE_TCL_STUBS, linked with -ltclstub8.6); exports only
 * Capme_Init (see capme_tcl.map). Commands, in namespace ::capme:
 *
 *   capme::extract     -store DIR ?-store DIR ...?
 *                      (-sip IP -spt PORT -dip IP -dpt PORT ?-proto P? | -communityid ID)
 *                      -stime TIME -etime TIME (-out FILE | -archive DIR) ?-force?
 *   capme::packets     -store DIR ... (flow as above) -stime TIME -etime TIME ?-limit N?
 *   capme::communityid -sip IP ?-spt N? -dip IP ?-dpt N? -proto P ?-seed N? ?-nobase64?
 *
 * Errors are Tcl errors whose message is the capme CLI's (after "capme: ") and whose errorcode
 * is {CAPME KIND}, KIND one of INVALID IO FORMAT STORE NOPACKETS CANCELLED PANIC NULL.
 * The style follows SQLite's tclsqlite.c: one object command per operation, options looked up
 * with Tcl_GetIndexFromObj in a NULL-terminated table.
 */
#include <tcl.h>

#include <ctype.h>
#include <string.h>

#include "capme.h"

#define CAPME_EXPORT __attribute__((visibility("default")))

#ifndef TCL_SIZE_MAX
typedef int Tcl_Size; /* Tcl 8.6 before 8.6.14 */
#endif

/* Every option any command knows; each command has its own name table mapped onto these. */
enum CapmeOpt {
    OPT_STORE, OPT_SIP, OPT_SPT, OPT_DIP, OPT_DPT, OPT_PROTO, OPT_CID, OPT_STIME, OPT_ETIME,
    OPT_OUT, OPT_ARCHIVE, OPT_FORCE, OPT_LIMIT, OPT_SEED, OPT_NOBASE64, OPT_COUNT
};

typedef struct CapmeOpts {
    Tcl_Obj *value[OPT_COUNT]; /* the last value given for each option, NULL if absent */
    int given[OPT_COUNT];      /* how often each option was given */
    Tcl_Obj *stores;           /* list of -store values (own reference) */
} CapmeOpts;

/* Sets a {CAPME KIND} error from the last capme failure. */
static int CapmeStatusError(Tcl_Interp *interp, capme_status st) {
    char kind[32];
    const char *k = capme_status_kind((int)st);
    size_t i;
    for (i = 0; k[i] && i < sizeof kind - 1; i++) kind[i] = (char)toupper((unsigned char)k[i]);
    kind[i] = '\0';
    Tcl_SetObjResult(interp, Tcl_NewStringObj(capme_last_error(), -1));
    Tcl_SetErrorCode(interp, "CAPME", kind, (char *)NULL);
    return TCL_ERROR;
}

/* Sets a {CAPME INVALID} error with a message of the extension's own (usage errors). */
static int CapmeUsageError(Tcl_Interp *interp, Tcl_Obj *msg) {
    Tcl_SetObjResult(interp, msg);
    Tcl_SetErrorCode(interp, "CAPME", "INVALID", (char *)NULL);
    return TCL_ERROR;
}

static void OptsInit(CapmeOpts *o) {
    memset(o, 0, sizeof *o);
    o->stores = Tcl_NewListObj(0, NULL);
    Tcl_IncrRefCount(o->stores);
}

static void OptsFree(CapmeOpts *o) {
    Tcl_DecrRefCount(o->stores);
}

static int IsFlag(int id) {
    return id == OPT_FORCE || id == OPT_NOBASE64;
}

/* Parses objv[1..objc) against `names` (NULL-terminated), whose entries map to `ids`. */
static int ParseOpts(Tcl_Interp *interp, int objc, Tcl_Obj *const objv[],
                     const char *const *names, const int *ids, CapmeOpts *o) {
    int i;
    for (i = 1; i < objc; i++) {
        int idx, id;
        if (Tcl_GetIndexFromObj(interp, objv[i], names, "option", 0, &idx) != TCL_OK) {
            Tcl_SetErrorCode(interp, "CAPME", "INVALID", (char *)NULL);
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

/* Builds the query from -sip/-spt/-dip/-dpt/-proto or -communityid and -stime/-etime. */
static int BuildQuery(Tcl_Interp *interp, const CapmeOpts *o, capme_query **q) {
    capme_status st;
    if (Require(interp, o, OPT_STIME, "-stime") != TCL_OK) return TCL_ERROR;
    if (Require(interp, o, OPT_ETIME, "-etime") != TCL_OK) return TCL_ERROR;
    if (o->value[OPT_CID]) {
        if (o->value[OPT_SIP] || o->value[OPT_SPT] || o->value[OPT_DIP] || o->value[OPT_DPT] ||
            o->value[OPT_PROTO]) {
            return CapmeUsageError(
                interp, Tcl_NewStringObj("-communityid cannot be used with -sip, -spt, -dip, "
                                         "-dpt or -proto", -1));
        }
        st = capme_query_new_community_id(OptStr(o, OPT_CID), OptStr(o, OPT_STIME),
                                          OptStr(o, OPT_ETIME), q);
    } else {
        if (!o->value[OPT_SIP] || !o->value[OPT_DIP]) {
            return CapmeUsageError(
                interp, Tcl_NewStringObj("missing required option -sip and -dip (or -communityid)",
                                         -1));
        }
        st = capme_query_new_tuple(OptStr(o, OPT_SIP), OptStr(o, OPT_SPT), OptStr(o, OPT_DIP),
                                   OptStr(o, OPT_DPT), OptStr(o, OPT_PROTO),
                                   OptStr(o, OPT_STIME), OptStr(o, OPT_ETIME), q);
    }
    return st == CAPME_OK ? TCL_OK : CapmeStatusError(interp, st);
}

/* Opens the store of every -store (file names translated: ~ and the system encoding). */
static int OpenStore(Tcl_Interp *interp, const CapmeOpts *o, capme_store **store) {
    Tcl_Size n, i;
    Tcl_Obj **elems;
    Tcl_DString *ds;
    const char **roots;
    capme_status st;
    int rc = TCL_OK;

    if (Tcl_ListObjGetElements(interp, o->stores, &n, &elems) != TCL_OK) return TCL_ERROR;
    ds = (Tcl_DString *)ckalloc(sizeof(Tcl_DString) * (n ? n : 1));
    roots = (const char **)ckalloc(sizeof(char *) * (n ? n : 1));
    for (i = 0; i < n; i++) Tcl_DStringInit(&ds[i]);
    for (i = 0; i < n && rc == TCL_OK; i++) {
        roots[i] = Tcl_TranslateFileName(interp, Tcl_GetString(elems[i]), &ds[i]);
        if (!roots[i]) rc = TCL_ERROR;
    }
    if (rc == TCL_OK) {
        st = capme_store_open(roots, (size_t)n, store);
        if (st != CAPME_OK) rc = CapmeStatusError(interp, st);
    } else {
        Tcl_SetErrorCode(interp, "CAPME", "INVALID", (char *)NULL);
    }
    for (i = 0; i < n; i++) Tcl_DStringFree(&ds[i]);
    ckfree((char *)ds);
    ckfree((char *)roots);
    return rc;
}

/* Epoch nanoseconds as the float seconds of the CLI's JSON (secs + subsec / 1e9). */
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

/*
 * The summary as a dict, from capme_summary_json(): the keys and order of the CLI's --json
 * object, so that fields the library adds later appear without a change here. Values: numbers
 * and true/false as their JSON text (Tcl reads "true"/"false" as booleans), null as the empty
 * string, strings unescaped, arrays (warning_messages) as lists.
 * The parser takes what serde_json writes for a summary: one flat object whose values are
 * scalars or arrays of scalars.
 */
typedef struct JsonCursor {
    const char *p;
} JsonCursor;

static void JsonSkipWs(JsonCursor *c) {
    while (*c->p == ' ' || *c->p == '\n' || *c->p == '\r' || *c->p == '\t') c->p++;
}

static int JsonHex4(const char *p, unsigned *out) {
    unsigned v = 0;
    int i;
    for (i = 0; i < 4; i++) {
        char ch = p[i];
        v <<= 4;
        if (ch >= '0' && ch <= '9') v |= (unsigned)(ch - '0');
        else if (ch >= 'a' && ch <= 'f') v |= (unsigned)(ch - 'a' + 10);
        else if (ch >= 'A' && ch <= 'F') v |= (unsigned)(ch - 'A' + 10);
        else return 0;
    }
    *out = v;
    return 1;
}

/* Parses a JSON string at c->p (on the opening quote) into a new Tcl string object. */
static Tcl_Obj *JsonString(JsonCursor *c) {
    Tcl_DString ds;
    Tcl_Obj *obj;
    if (*c->p != '"') return NULL;
    c->p++;
    Tcl_DStringInit(&ds);
    while (*c->p && *c->p != '"') {
        if (*c->p != '\\') {
            const char *start = c->p;
            while (*c->p && *c->p != '"' && *c->p != '\\') c->p++;
            Tcl_DStringAppend(&ds, start, (int)(c->p - start));
            continue;
        }
        c->p++;
        switch (*c->p) {
        case '"': Tcl_DStringAppend(&ds, "\"", 1); break;
        case '\\': Tcl_DStringAppend(&ds, "\\", 1); break;
        case '/': Tcl_DStringAppend(&ds, "/", 1); break;
        case 'b': Tcl_DStringAppend(&ds, "\b", 1); break;
        case 'f': Tcl_DStringAppend(&ds, "\f", 1); break;
        case 'n': Tcl_DStringAppend(&ds, "\n", 1); break;
        case 'r': Tcl_DStringAppend(&ds, "\r", 1); break;
        case 't': Tcl_DStringAppend(&ds, "\t", 1); break;
        case 'u': {
            unsigned cp, lo;
            char buf[8];
            if (!JsonHex4(c->p + 1, &cp)) goto bad;
            c->p += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && c->p[1] == '\\' && c->p[2] == 'u' &&
                JsonHex4(c->p + 3, &lo) && lo >= 0xDC00 && lo < 0xE000) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                c->p += 6;
            }
            Tcl_DStringAppend(&ds, buf, Tcl_UniCharToUtf((int)cp, buf));
            break;
        }
        default:
            goto bad;
        }
        c->p++;
    }
    if (*c->p != '"') goto bad;
    c->p++;
    obj = Tcl_NewStringObj(Tcl_DStringValue(&ds), Tcl_DStringLength(&ds));
    Tcl_DStringFree(&ds);
    return obj;
bad:
    Tcl_DStringFree(&ds);
    return NULL;
}

/* Parses a scalar (string, number, true, false, null) into a new object. */
static Tcl_Obj *JsonScalar(JsonCursor *c) {
    const char *start = c->p;
    if (*c->p == '"') return JsonString(c);
    if (strncmp(c->p, "null", 4) == 0) {
        c->p += 4;
        return Tcl_NewObj();
    }
    while (*c->p && *c->p != ',' && *c->p != '}' && *c->p != ']' && *c->p != ' ') c->p++;
    if (c->p == start) return NULL;
    return Tcl_NewStringObj(start, (int)(c->p - start));
}

static Tcl_Obj *JsonValue(JsonCursor *c) {
    Tcl_Obj *list, *item;
    JsonSkipWs(c);
    if (*c->p != '[') return JsonScalar(c);
    c->p++;
    list = Tcl_NewListObj(0, NULL);
    JsonSkipWs(c);
    if (*c->p == ']') {
        c->p++;
        return list;
    }
    for (;;) {
        JsonSkipWs(c);
        item = JsonScalar(c);
        if (!item) break;
        Tcl_ListObjAppendElement(NULL, list, item);
        JsonSkipWs(c);
        if (*c->p == ',') {
            c->p++;
            continue;
        }
        if (*c->p == ']') {
            c->p++;
            return list;
        }
        break;
    }
    Tcl_DecrRefCount(list);
    return NULL;
}

static int SummaryDict(Tcl_Interp *interp, const capme_summary *s, Tcl_Obj **out) {
    JsonCursor c;
    Tcl_Obj *d = Tcl_NewDictObj(), *key = NULL, *value = NULL;
    const char *json = capme_summary_json(s);
    c.p = json ? json : "";
    JsonSkipWs(&c);
    if (*c.p != '{') goto bad;
    c.p++;
    JsonSkipWs(&c);
    if (*c.p == '}') goto done;
    for (;;) {
        JsonSkipWs(&c);
        key = JsonString(&c);
        if (!key) goto bad;
        JsonSkipWs(&c);
        if (*c.p != ':') goto bad;
        c.p++;
        value = JsonValue(&c);
        if (!value) goto bad;
        Tcl_DictObjPut(NULL, d, key, value);
        key = value = NULL;
        JsonSkipWs(&c);
        if (*c.p == ',') {
            c.p++;
            continue;
        }
        if (*c.p == '}') break;
        goto bad;
    }
done:
    *out = d;
    return TCL_OK;
bad:
    if (key) Tcl_DecrRefCount(key);
    Tcl_DecrRefCount(d);
    Tcl_SetObjResult(interp, Tcl_ObjPrintf("cannot read the summary JSON: %s", c.p));
    Tcl_SetErrorCode(interp, "CAPME", "PANIC", (char *)NULL);
    return TCL_ERROR;
}

/*
 * capme::extract -store DIR ?-store DIR ...?
 *                (-sip IP -spt PORT -dip IP -dpt PORT ?-proto PROTO? | -communityid ID)
 *                -stime TIME -etime TIME (-out FILE | -archive DIR) ?-force?
 *
 * Writes the flow's packets to FILE (pcap) or into the archive under DIR and returns the
 * summary as a dict with the keys and values of `capme extract --json` (null: "").
 */
static int CapmeExtractCmd(ClientData cd, Tcl_Interp *interp, int objc, Tcl_Obj *const objv[]) {
    static const char *const names[] = {"-store", "-sip", "-spt", "-dip", "-dpt", "-proto",
                                        "-communityid", "-stime", "-etime", "-out", "-archive",
                                        "-force", NULL};
    static const int ids[] = {OPT_STORE, OPT_SIP, OPT_SPT, OPT_DIP, OPT_DPT, OPT_PROTO, OPT_CID,
                              OPT_STIME, OPT_ETIME, OPT_OUT, OPT_ARCHIVE, OPT_FORCE};
    CapmeOpts o;
    capme_query *q = NULL;
    capme_store *store = NULL;
    capme_summary *sum = NULL;
    capme_status st;
    Tcl_DString ds;
    const char *path;
    int rc = TCL_ERROR;
    (void)cd;

    if (objc < 2) {
        Tcl_WrongNumArgs(interp, 1, objv,
                         "-store DIR ?-store DIR ...? (-sip IP -spt PORT -dip IP -dpt PORT "
                         "?-proto PROTO? | -communityid ID) -stime TIME -etime TIME "
                         "(-out FILE | -archive DIR) ?-force?");
        Tcl_SetErrorCode(interp, "CAPME", "INVALID", (char *)NULL);
        return TCL_ERROR;
    }
    OptsInit(&o);
    Tcl_DStringInit(&ds);
    if (ParseOpts(interp, objc, objv, names, ids, &o) != TCL_OK) goto done;
    if ((o.value[OPT_OUT] != NULL) == (o.value[OPT_ARCHIVE] != NULL)) {
        CapmeUsageError(interp, Tcl_NewStringObj("exactly one of -out FILE or -archive DIR is "
                                                 "required", -1));
        goto done;
    }
    if (o.given[OPT_FORCE] && !o.value[OPT_ARCHIVE]) {
        CapmeUsageError(interp, Tcl_NewStringObj("-force requires -archive", -1));
        goto done;
    }
    if (BuildQuery(interp, &o, &q) != TCL_OK) goto done;
    if (OpenStore(interp, &o, &store) != TCL_OK) goto done;
    path = Tcl_TranslateFileName(
        interp, Tcl_GetString(o.value[OPT_OUT] ? o.value[OPT_OUT] : o.value[OPT_ARCHIVE]), &ds);
    if (!path) {
        Tcl_SetErrorCode(interp, "CAPME", "INVALID", (char *)NULL);
        goto done;
    }
    st = o.value[OPT_OUT] ? capme_extract_to_file(store, q, path, &sum)
                          : capme_extract_to_archive(store, q, path, o.given[OPT_FORCE] > 0, &sum);
    if (st != CAPME_OK) {
        CapmeStatusError(interp, st);
        goto done;
    }
    {
        Tcl_Obj *d;
        if (SummaryDict(interp, sum, &d) != TCL_OK) goto done;
        Tcl_SetObjResult(interp, d);
    }
    rc = TCL_OK;
done:
    capme_summary_free(sum);
    capme_store_free(store);
    capme_query_free(q);
    Tcl_DStringFree(&ds);
    OptsFree(&o);
    return rc;
}

/*
 * capme::packets -store DIR ?-store DIR ...?
 *                (-sip IP -spt PORT -dip IP -dpt PORT ?-proto PROTO? | -communityid ID)
 *                -stime TIME -etime TIME ?-limit N?
 *
 * Returns the matched packets in timestamp order (at most N with -limit), each a dict:
 * ts (float epoch seconds), ts_ns, len (captured length), origlen, linktype, sensor, file, and
 * data (the captured bytes as a byte array). No match is an empty list.
 */
static int CapmePacketsCmd(ClientData cd, Tcl_Interp *interp, int objc, Tcl_Obj *const objv[]) {
    static const char *const names[] = {"-store", "-sip", "-spt", "-dip", "-dpt", "-proto",
                                        "-communityid", "-stime", "-etime", "-limit", NULL};
    static const int ids[] = {OPT_STORE, OPT_SIP, OPT_SPT, OPT_DIP, OPT_DPT, OPT_PROTO, OPT_CID,
                              OPT_STIME, OPT_ETIME, OPT_LIMIT};
    CapmeOpts o;
    capme_query *q = NULL;
    capme_store *store = NULL;
    capme_search *search = NULL;
    capme_packet p;
    capme_status st;
    Tcl_WideInt limit = -1, n = 0;
    Tcl_Obj *list = NULL;
    int rc = TCL_ERROR;
    (void)cd;

    if (objc < 2) {
        Tcl_WrongNumArgs(interp, 1, objv,
                         "-store DIR ?-store DIR ...? (-sip IP -spt PORT -dip IP -dpt PORT "
                         "?-proto PROTO? | -communityid ID) -stime TIME -etime TIME ?-limit N?");
        Tcl_SetErrorCode(interp, "CAPME", "INVALID", (char *)NULL);
        return TCL_ERROR;
    }
    OptsInit(&o);
    if (ParseOpts(interp, objc, objv, names, ids, &o) != TCL_OK) goto done;
    if (o.value[OPT_LIMIT]) {
        if (Tcl_GetWideIntFromObj(NULL, o.value[OPT_LIMIT], &limit) != TCL_OK || limit < 0) {
            CapmeUsageError(interp, Tcl_ObjPrintf("invalid limit \"%s\": expected an integer >= 0",
                                                  Tcl_GetString(o.value[OPT_LIMIT])));
            goto done;
        }
    }
    if (BuildQuery(interp, &o, &q) != TCL_OK) goto done;
    if (OpenStore(interp, &o, &store) != TCL_OK) goto done;
    st = capme_search_new(store, q, &search);
    if (st != CAPME_OK) {
        CapmeStatusError(interp, st);
        goto done;
    }
    list = Tcl_NewListObj(0, NULL);
    Tcl_IncrRefCount(list);
    while (limit < 0 || n < limit) {
        Tcl_Obj *d;
        st = capme_search_next(search, &p);
        if (st == CAPME_DONE) break;
        if (st != CAPME_OK) {
            CapmeStatusError(interp, st);
            goto done;
        }
        d = Tcl_NewDictObj();
        DictPut(d, "ts", SecondsObj(p.ts_ns));
        DictPut(d, "ts_ns", Tcl_NewWideIntObj((Tcl_WideInt)p.ts_ns));
        DictPut(d, "len", Tcl_NewWideIntObj((Tcl_WideInt)p.caplen));
        DictPut(d, "origlen", Tcl_NewWideIntObj((Tcl_WideInt)p.origlen));
        DictPut(d, "linktype", Tcl_NewWideIntObj((Tcl_WideInt)p.linktype));
        DictPut(d, "sensor", Tcl_NewStringObj(p.sensor, -1));
        {
            Tcl_DString ds; /* the path in the system encoding, as Tcl's file commands take it */
            Tcl_ExternalToUtfDString(NULL, p.file, -1, &ds);
            DictPut(d, "file", Tcl_NewStringObj(Tcl_DStringValue(&ds), Tcl_DStringLength(&ds)));
            Tcl_DStringFree(&ds);
        }
        DictPut(d, "data", Tcl_NewByteArrayObj(p.data, (Tcl_Size)p.caplen));
        Tcl_ListObjAppendElement(NULL, list, d);
        n++;
    }
    Tcl_SetObjResult(interp, list);
    rc = TCL_OK;
done:
    if (list) Tcl_DecrRefCount(list);
    capme_search_free(search);
    capme_store_free(store);
    capme_query_free(q);
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
        Tcl_WrongNumArgs(interp, 1, objv,
                         "-sip IP ?-spt N? -dip IP ?-dpt N? -proto PROTO ?-seed N? ?-nobase64?");
        Tcl_SetErrorCode(interp, "CAPME", "INVALID", (char *)NULL);
        return TCL_ERROR;
    }
    OptsInit(&o);
    if (ParseOpts(interp, objc, objv, names, ids, &o) != TCL_OK) goto done;
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
    Tcl_CreateObjCommand(interp, "::capme::extract", CapmeExtractCmd, NULL, NULL);
    Tcl_CreateObjCommand(interp, "::capme::packets", CapmePacketsCmd, NULL, NULL);
    Tcl_CreateObjCommand(interp, "::capme::communityid", CapmeCommunityIdCmd, NULL, NULL);
    Tcl_SetVar2(interp, "::capme::version", NULL, capme_version(), 0);
    return Tcl_PkgProvide(interp, "capme", capme_version());
}

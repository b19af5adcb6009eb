//! The `capme` command line: parses arguments, calls capme-core, prints. No logic of its own.

use capme_core::extract::WHOLE_FLOW_STEP;
use capme_core::{Error, ErrorKind, Layer, Query, QuerySpec, Store, Summary, TimeWindow};
use clap::{Args, Parser, Subcommand};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// Pull the packets of one network connection out of rolling full-packet-capture files.
///
/// A store is a directory tree of pcap/pcapng files, e.g. Security Onion's
/// /nsm/sensor_data (<sensor>/dailylogs/YYYY-MM-DD/snort.log.<epoch>). Times are epoch seconds
/// (1700000000; an integer end time covers its whole second), epoch with a fraction
/// (1700000000.25) or RFC 3339 (2023-11-14T22:13:20Z).
#[derive(Parser, Debug)]
#[command(name = "capme", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Extract one flow's packets in a time window into a pcap file or a CapMe archive.
    ///
    /// Exit codes: 0 packets written, 1 no packet matched (no file is left), 2 invalid input,
    /// 3 store or I/O error.
    #[command(
        after_help = "Examples:\n  capme extract --store /nsm/sensor_data --sip 10.0.0.5 --spt 51234 \\\n      --dip 93.184.216.34 --dpt 80 --proto tcp --stime 1700000000 --etime 1700000100 -o flow.pcap\n  capme extract --store /nsm/sensor_data --community-id '1:wCb3OG7yAFWelaUydu0D+125CLM=' \\\n      --stime 2023-11-14T22:13:20Z --etime 2023-11-14T22:15:00Z --archive /nsm/capme-archive --json\n  capme extract --store /nsm/sensor_data -o flow.pcap \\\n      --url 'https://so/capme/index.php?sip=10.0.0.5&spt=51234&dip=93.184.216.34&dpt=80&stime=1700000000&etime=1700000100'\n  capme extract --store /nsm/sensor_data -o flow.pcap --whole-flow \\\n      --zeek-uid CHhAvVGS1DHFjwGM9 --zeek-logs /nsm/zeek/logs"
    )]
    Extract(Box<ExtractArgs>),
    /// Print the payload of one flow's packets in a time window as a conversation (TCP
    /// reassembled per direction, UDP one block per datagram, HTTP/1.x decoded).
    ///
    /// TCP: ordered by sequence number, retransmissions and overlaps de-duplicated (the first
    /// copy of a byte wins), holes shown as [N bytes missing]. SRC is the side that sent the
    /// SYN (else the first packet). Exit codes: 0 transcript written, 1 no packet matched
    /// (no file is left), 2 invalid input, 3 store or I/O error.
    #[command(
        after_help = "Examples:\n  capme transcript --store /nsm/sensor_data --sip 10.0.0.5 --spt 51234 \\\n      --dip 93.184.216.34 --dpt 80 --proto tcp --stime 1700000000 --etime 1700000100\n  capme transcript --store /nsm/sensor_data --community-id '1:wCb3OG7yAFWelaUydu0D+125CLM=' \\\n      --stime 1700000000 --etime 1700000100 --style json -o flow.jsonl"
    )]
    Transcript(Box<TranscriptArgs>),
    /// List the capture files a time window would read, with their spans.
    Files(FilesArgs),
    /// Build the flow index of every capture file (pcap or pcapng) of a store, so that
    /// extractions read only the records of their flow.
    ///
    /// One sidecar per capture file, under <root>/.capme/ mirroring the capture file's path (or
    /// under --index-dir). Files whose index is fresh are skipped; a file still being written
    /// is indexed up to its last whole record.
    Index(IndexArgs),
    /// Print the Community ID (v1) of a flow tuple.
    ///
    /// For ICMP/ICMPv6, --spt is the type and --dpt the code; for protocols without ports, omit
    /// both.
    #[command(name = "community-id")]
    CommunityId(CidArgs),
    /// Serve the store over HTTP(S): a JSON/pcap API (/api/v1/pcap, summary, transcript,
    /// files), CapMe's own page (/capme/index.php), /healthz and /metrics.
    ///
    /// One long-lived process: the store, its catalogue and indexes stay open between requests.
    /// Authentication: --users and/or --tokens (checked by the server), --trusted-header (a
    /// reverse proxy authenticates), or --insecure-no-auth (loopback only).
    #[command(
        after_help = "Examples:\n  capme serve --store /nsm/sensor_data --listen 127.0.0.1:8080\n  capme serve --store /nsm/sensor_data --archive /nsm/capme-archive --listen 0.0.0.0:8443 \\\n      --tls-cert cert.pem --tls-key key.pem --trusted-header X-Remote-User\n  curl -o flow.pcap 'http://127.0.0.1:8080/api/v1/pcap?sip=10.0.0.5&spt=51234&dip=93.184.216.34&dpt=80&stime=1700000000&etime=1700000100'"
    )]
    Serve(Box<ServeArgs>),
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// A store root directory (repeat for several), as extract's --store.
    #[arg(
        long = "store",
        value_name = "DIR",
        required_unless_present_any = ["add_user", "add_token"]
    )]
    store: Vec<PathBuf>,
    /// Do not use the store catalogue that `capme index` keeps.
    #[arg(long = "no-catalogue")]
    no_catalogue: bool,
    #[command(flatten)]
    search: SearchArgs,
    /// Serve captures through a CapMe-like archive in DIR (extracted once, then streamed from
    /// its verified cache; concurrent identical requests wait for one extraction).
    #[arg(long, value_name = "DIR")]
    archive: Option<PathBuf>,
    /// Where Zeek's logs are, for zeek_uid queries (as extract's --zeek-logs).
    #[arg(long = "zeek-logs", value_name = "DIR")]
    zeek_logs: Option<PathBuf>,
    /// The address and port to listen on.
    #[arg(
        long,
        value_name = "ADDR:PORT",
        required_unless_present_any = ["add_user", "add_token"]
    )]
    listen: Option<std::net::SocketAddr>,
    /// TLS certificate chain (PEM); needs --tls-key.
    #[arg(long = "tls-cert", value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM); needs --tls-cert.
    #[arg(long = "tls-key", value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// HTTP basic authentication against this users file (`name:hash` lines, argon2 or
    /// bcrypt; see --add-user).
    #[arg(long, value_name = "FILE")]
    users: Option<PathBuf>,
    /// Add (or replace) user NAME in the --users file, reading the password from stdin (one
    /// line), then exit without serving.
    #[arg(long = "add-user", value_name = "NAME", requires = "users")]
    add_user: Option<String>,
    /// Bearer tokens against this tokens file (`NAME sha256:HEX` lines; see --add-token): a
    /// request with `Authorization: Bearer TOKEN` is the user NAME (in the request log and for
    /// --max-concurrent). May be combined with --users: basic and bearer are then both
    /// accepted, each checked against its own file. What other servers' --peer-credentials
    /// `NAME bearer TOKEN` lines send.
    #[arg(long, value_name = "FILE")]
    tokens: Option<PathBuf>,
    /// Make a new random token for NAME (replacing NAME's old one), store only its SHA-256 in
    /// the --tokens file (mode 600), print the token once on stdout, then exit without serving.
    #[arg(
        long = "add-token",
        value_name = "NAME",
        requires = "tokens",
        conflicts_with = "add_user"
    )]
    add_token: Option<String>,
    /// Trust the user name in this header, set by a reverse proxy (e.g. X-Remote-User). Anyone
    /// who can reach the server directly can set it: listen where only the proxy can.
    #[arg(long = "trusted-header", value_name = "NAME")]
    trusted_header: Option<String>,
    /// Serve without authentication: refused unless every listen address is loopback.
    #[arg(long = "insecure-no-auth")]
    insecure_no_auth: bool,
    /// Requests one user may have running at once; more are answered 429.
    #[arg(long = "max-concurrent", value_name = "N", default_value_t = 4,
          value_parser = clap::value_parser!(u16).range(1..))]
    max_concurrent: u16,
    /// Do not keep the store's directory listing current with inotify: every request lists the
    /// directories it needs, as `capme extract` does. Stores on network file systems (NFS,
    /// CIFS, FUSE, ...), where inotify misses other hosts' writes, are detected and not
    /// watched anyway; use this when detection falls short (e.g. a shared disk or overlay
    /// written from another host), when the watches would use up fs.inotify.max_user_watches,
    /// or to rule the cache out while diagnosing.
    #[arg(long = "no-watch")]
    no_watch: bool,
    /// Also answer for another capme serve (repeat for several): a query with sensor=NAME is
    /// proxied to it; a query without sensor goes to every peer and the local store at once,
    /// their captures merged in timestamp order (a peer that fails is named in the warnings).
    /// NAME may not be a sensor of the local store.
    #[arg(long = "peer", value_name = "NAME=URL")]
    peer: Vec<String>,
    /// Credentials for the peers: lines `NAME basic USER:PASSWORD` or `NAME bearer TOKEN`
    /// (# comments); keep it mode 600.
    #[arg(long = "peer-credentials", value_name = "FILE", requires = "peer")]
    peer_credentials: Option<PathBuf>,
    /// Seconds a peer may stay silent (connecting, then between two reads) before it counts
    /// as failed.
    #[arg(long = "peer-timeout", value_name = "SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..))]
    peer_timeout: u64,
    /// Verify https peers against the CA certificates of this PEM file only (default: the
    /// Mozilla roots).
    #[arg(long = "peer-ca", value_name = "PEM", requires = "peer")]
    peer_ca: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct StoreArgs {
    /// A store root directory (repeat for several). Every pcap/pcapng file below it is used.
    #[arg(long = "store", value_name = "DIR", required = true)]
    store: Vec<PathBuf>,
    /// Do not use the store catalogue that `capme index` keeps: read every directory the
    /// window needs (for `capme index`: survey every directory and file again).
    #[arg(long = "no-catalogue")]
    no_catalogue: bool,
}

impl StoreArgs {
    /// The store these arguments name.
    fn open(&self) -> Result<Store, Error> {
        Ok(Store::open(&self.store)?.use_catalogue(!self.no_catalogue))
    }
}

/// Which sensors a command reads (extract, transcript, files).
#[derive(Args, Debug)]
struct SensorArgs {
    /// Read only this sensor's capture files (repeat for several): the sensor names that
    /// `capme files` shows (the directory before `dailylogs`, else the first directory below
    /// the root). A name the store does not have is an error listing the sensors it has.
    #[arg(long = "sensor", value_name = "NAME", allow_hyphen_values = true)]
    sensor: Vec<String>,
}

impl SensorArgs {
    /// `store` restricted to these sensors (unchanged when none is named).
    fn apply(&self, store: Store) -> Store {
        store.with_sensors(self.sensor.iter().cloned())
    }
}

#[derive(Args, Debug)]
struct WindowArgs {
    /// Window start: epoch seconds, epoch.fraction, or RFC 3339.
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    stime: String,
    /// Window end (inclusive; an integer covers its whole second).
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    etime: String,
}

/// The flow and window of a query: the options `extract` (and every command that takes a
/// query) shares. Exactly one flow form: a 5-tuple, --community-id, --url or --zeek-uid.
#[derive(Args, Debug)]
struct QueryArgs {
    /// Source IP address (IPv4 or IPv6).
    #[arg(
        long,
        value_name = "IP",
        required_unless_present_any = ["community_id", "url", "zeek_uid"],
        allow_hyphen_values = true
    )]
    sip: Option<String>,
    /// Source port (ICMP: type).
    #[arg(long, value_name = "PORT", allow_hyphen_values = true)]
    spt: Option<String>,
    /// Destination IP address.
    #[arg(
        long,
        value_name = "IP",
        required_unless_present_any = ["community_id", "url", "zeek_uid"],
        allow_hyphen_values = true
    )]
    dip: Option<String>,
    /// Destination port (ICMP: code).
    #[arg(long, value_name = "PORT", allow_hyphen_values = true)]
    dpt: Option<String>,
    /// Protocol: tcp, udp, sctp, icmp, icmp6 or a number. Default: tcp, udp and sctp.
    #[arg(long, value_name = "PROTO", allow_hyphen_values = true)]
    proto: Option<String>,
    /// Name the flow by Community ID (v1, seed 0) instead of a 5-tuple.
    #[arg(long = "community-id", value_name = "ID", allow_hyphen_values = true,
          conflicts_with_all = ["sip", "spt", "dip", "dpt", "proto"])]
    community_id: Option<String>,
    /// Take the flow (and window) from a CapMe or Security Onion Console URL (quote it):
    /// CapMe's index.php?sip=..&spt=..&dip=..&dpt=..&stime=..&etime=.. (IPv6 too), or SOC's
    /// joblookup?ncid=<Community ID>&time=<RFC 3339> (window: that instant, padded; add
    /// --whole-flow). --stime/--etime replace the URL's window (and are needed when it has
    /// none). URLs that name the flow only by an Elasticsearch id (elastic.php?esid=..,
    /// joblookup?esid=..) are refused: capme cannot look them up.
    #[arg(long, value_name = "URL", allow_hyphen_values = true,
          conflicts_with_all = ["sip", "spt", "dip", "dpt", "proto", "community_id", "zeek_uid"])]
    url: Option<String>,
    /// Take the flow and window from the Zeek conn.log record of this connection uid: its
    /// 5-tuple, proto and [ts, ts + duration]. Needs --zeek-logs.
    #[arg(long = "zeek-uid", value_name = "UID", requires = "zeek_logs",
          conflicts_with_all = ["sip", "spt", "dip", "dpt", "proto", "community_id", "stime", "etime"])]
    zeek_uid: Option<String>,
    /// Where Zeek's logs are: a directory searched recursively for conn.log, conn.*.log and
    /// their .gz (TSV or JSON), e.g. /nsm/zeek/logs (Security Onion) or <zeek>/logs; or one
    /// log file.
    #[arg(long = "zeek-logs", value_name = "DIR", requires = "zeek_uid")]
    zeek_logs: Option<PathBuf>,
    /// Window start: epoch seconds, epoch.fraction, or RFC 3339 (optional with --url; not with
    /// --zeek-uid).
    #[arg(
        long,
        value_name = "TIME",
        allow_hyphen_values = true,
        required_unless_present_any = ["url", "zeek_uid"]
    )]
    stime: Option<String>,
    /// Window end (inclusive; an integer covers its whole second).
    #[arg(
        long,
        value_name = "TIME",
        allow_hyphen_values = true,
        required_unless_present_any = ["url", "zeek_uid"]
    )]
    etime: Option<String>,
    /// Widen the window by SECONDS on each side (a fraction is allowed: 0.5). Default 2 for a
    /// window taken from a Zeek record or a SOC URL's time, 0 otherwise.
    #[arg(long, value_name = "SECONDS", allow_hyphen_values = true)]
    pad: Option<String>,
    /// Extend the window while packets of the flow keep appearing: while a search of the 60 s
    /// after the window's end (then before its start) finds packets of the flow, the edge
    /// moves to the last (first) of them. Recovers a flow whose log times were rounded or cut
    /// at a rotation; stops at --max-window (with a warning).
    #[arg(long = "whole-flow")]
    whole_flow: bool,
    /// Which IP layers of a packet the flow is matched at: any (the outermost or any layer
    /// inside a GRE, ERSPAN, VXLAN, GENEVE or IP-in-IP tunnel, up to 4 deep), outer (tunnels
    /// are not entered) or inner (only through a tunnel).
    #[arg(
        long,
        value_name = "LAYER",
        default_value = "any",
        allow_hyphen_values = true
    )]
    layer: String,
}

impl QueryArgs {
    /// The query these options name (parsed by the core's one parser, padded).
    fn query(&self) -> Result<Query, Error> {
        QuerySpec {
            sip: self.sip.as_deref(),
            spt: self.spt.as_deref(),
            dip: self.dip.as_deref(),
            dpt: self.dpt.as_deref(),
            proto: self.proto.as_deref(),
            community_id: self.community_id.as_deref(),
            url: self.url.as_deref(),
            zeek_uid: self.zeek_uid.as_deref(),
            zeek_logs: self.zeek_logs.as_deref(),
            stime: self.stime.as_deref(),
            etime: self.etime.as_deref(),
            pad: self.pad.as_deref(),
        }
        .parse()
        .and_then(|q| Ok(q.with_layer(Layer::parse("layer", &self.layer)?)))
    }

    /// `query` as it runs on `store`: its window grown with --whole-flow. The second value is
    /// a warning when growing stopped at the window limit.
    fn grow(&self, store: &Store, query: Query) -> Result<(Query, Option<String>), Error> {
        if !self.whole_flow {
            return Ok((query, None));
        }
        let grown = store.grow_window(&query, WHOLE_FLOW_STEP)?;
        let warning = grown.warning();
        Ok((grown.query, warning))
    }
}

/// Where `extract` reads: local store roots, or a server (`--remote`).
#[derive(Args, Debug)]
struct ExtractStoreArgs {
    /// A store root directory (repeat for several). Every pcap/pcapng file below it is used.
    #[arg(
        long = "store",
        value_name = "DIR",
        required_unless_present = "remote",
        conflicts_with = "remote"
    )]
    store: Vec<PathBuf>,
    /// Do not use the store catalogue that `capme index` keeps: read every directory the
    /// window needs.
    #[arg(long = "no-catalogue")]
    no_catalogue: bool,
    /// Run the query on a capme serve at this URL (e.g. https://so-manager:8443) instead of
    /// a local store: same query flags, -o and --json, same exit codes. Credentials:
    /// --remote-user with the password in $CAPME_PASSWORD, or a bearer token in
    /// $CAPME_TOKEN. Not with --archive or the local search options (--threads, --index-dir,
    /// --no-index, --max-*, --no-catalogue): the server's apply.
    #[arg(long, value_name = "URL", conflicts_with_all = ["archive", "no_catalogue"])]
    remote: Option<String>,
    /// With --remote: the user for HTTP basic authentication; the password is read from the
    /// environment variable CAPME_PASSWORD.
    #[arg(long = "remote-user", value_name = "USER", requires = "remote")]
    remote_user: Option<String>,
    /// With --remote: verify an https server against the CA certificates of this PEM file
    /// only (default: the Mozilla roots).
    #[arg(long = "remote-ca", value_name = "PEM", requires = "remote")]
    remote_ca: Option<PathBuf>,
}

impl ExtractStoreArgs {
    fn local(&self) -> StoreArgs {
        StoreArgs {
            store: self.store.clone(),
            no_catalogue: self.no_catalogue,
        }
    }
}

#[derive(Args, Debug)]
#[group(id = "destination", required = true, multiple = false)]
struct ExtractArgs {
    #[command(flatten)]
    store: ExtractStoreArgs,
    #[command(flatten)]
    sensors: SensorArgs,
    #[command(flatten)]
    query: QueryArgs,
    /// Write the packets to this new file (pcap; pcapng when named *.pcapng or when inputs
    /// differ in link type or precision); `-` writes the pcap to stdout. An existing file is
    /// replaced only with --force.
    #[arg(
        short = 'o',
        long = "output",
        value_name = "FILE",
        group = "destination",
        allow_hyphen_values = true
    )]
    output: Option<PathBuf>,
    /// Write into a CapMe-like archive: DIR/YYYY-MM-DD/<sensor>/<flow>_<window>.pcap, reusing
    /// an existing complete archive of the same flow and window.
    #[arg(long, value_name = "DIR", group = "destination")]
    archive: Option<PathBuf>,
    /// With --archive: rescan even when the archive already holds this flow and window. With
    /// -o: replace an existing regular file (never a directory, device, FIFO, socket or link;
    /// never a file inside a store root).
    #[arg(long)]
    force: bool,
    /// Print one JSON object (the summary) on stdout.
    #[arg(long)]
    json: bool,
    /// Compress the output file (zstd, gzip or lz4), adding the suffix (.zst, .gz, .lz4) to
    /// its name unless it has it: `-o flow.pcap --compress zstd` writes flow.pcap.zst. With
    /// `-o -` the compressed stream goes to stdout. The default stays plain pcap, which every
    /// tool opens.
    #[arg(long, value_name = "FORMAT", conflicts_with = "archive")]
    compress: Option<CompressArg>,
    /// Write each tunnel packet as its innermost frame: the inner Ethernet frame (VXLAN,
    /// GENEVE, GRE bridging, ERSPAN; link type 1) or IP packet (IP in IP, GRE; raw IP, 101),
    /// pcapng when link types mix. Other packets are written unchanged. Not with --archive.
    #[arg(long, conflicts_with = "archive")]
    decapsulate: bool,
    #[command(flatten)]
    search: SearchArgs,
}

/// The output compressions of `extract --compress`.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum CompressArg {
    Zstd,
    Gzip,
    Lz4,
}

impl CompressArg {
    fn format(self) -> capme_core::capture::Compression {
        use capme_core::capture::Compression;
        match self {
            CompressArg::Zstd => Compression::Zstd,
            CompressArg::Gzip => Compression::Gzip,
            CompressArg::Lz4 => Compression::Lz4,
        }
    }
}

#[derive(Args, Debug)]
struct TranscriptArgs {
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    sensors: SensorArgs,
    #[command(flatten)]
    query: QueryArgs,
    /// capme: the sguil/CapMe layout (HDR:/SRC:/DST: lines); plain: a readable conversation;
    /// json: one JSON object per line and segment (direction, ts, offset, payload in base64).
    #[arg(
        long,
        value_name = "STYLE",
        default_value = "plain",
        allow_hyphen_values = true
    )]
    style: String,
    /// At most N payload bytes in the transcript (default 500000, as CapMe's maxtx); a
    /// transcript that reaches it ends with a notice (json: on stderr).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    maxtx: Option<String>,
    /// Write the transcript to this new file instead of stdout (`-` is stdout). An existing
    /// file is replaced only with --force.
    #[arg(
        short = 'o',
        long = "output",
        value_name = "FILE",
        allow_hyphen_values = true
    )]
    output: Option<PathBuf>,
    /// With -o: replace an existing regular file (never a directory, device, FIFO, socket or
    /// link; never a file inside a store root).
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    search: SearchArgs,
}

/// How a query searches: threads, indexes and limits (shared by the commands that search).
#[derive(Args, Debug)]
struct SearchArgs {
    /// Scan threads, at least 1 (default: the available cores). Results are the same for any
    /// number.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
    #[command(flatten)]
    index: IndexDirArgs,
    /// Scan every file, even where a fresh index exists.
    #[arg(long = "no-index")]
    no_index: bool,
    #[command(flatten)]
    limits: LimitArgs,
}

impl SearchArgs {
    /// The store of `store`, set up for searching with these options.
    fn open(&self, store: &StoreArgs) -> Result<Store, Error> {
        let mut s = self.limits.apply(store.open()?.use_index(!self.no_index))?;
        if let Some(n) = self.threads {
            s = s.with_threads(usize::from(n));
        }
        if let Some(d) = &self.index.index_dir {
            s = s.with_index_dir(d);
        }
        Ok(s)
    }
}

#[derive(Args, Debug)]
struct LimitArgs {
    /// Write at most N packets (default 999999, as Security Onion's CapMe). A result that
    /// reaches the limit stops early, is valid up to it, and says "truncated": true.
    #[arg(long = "max-packets", value_name = "N", allow_hyphen_values = true)]
    max_packets: Option<String>,
    /// Write at most N captured bytes (default 2147483648, 2 GiB); as --max-packets.
    #[arg(long = "max-bytes", value_name = "N", allow_hyphen_values = true)]
    max_bytes: Option<String>,
    /// Refuse windows longer than this (default 24h): seconds (86400) or a number with a unit
    /// s, m, h or d (90m, 24h, 2d).
    #[arg(
        long = "max-window",
        value_name = "DURATION",
        allow_hyphen_values = true
    )]
    max_window: Option<String>,
}

impl LimitArgs {
    /// The store with these limits (each value parsed strictly, errors naming the field).
    fn apply(&self, mut store: Store) -> Result<Store, Error> {
        use capme_core::store::limits::{parse_count, parse_duration};
        if let Some(t) = &self.max_packets {
            store = store.with_max_packets(parse_count("max_packets", t)?)?;
        }
        if let Some(t) = &self.max_bytes {
            store = store.with_max_bytes(parse_count("max_bytes", t)?)?;
        }
        if let Some(t) = &self.max_window {
            store = store.with_max_window(parse_duration("max_window", t)?)?;
        }
        Ok(store)
    }
}

#[derive(Args, Debug)]
struct IndexDirArgs {
    /// Where flow indexes are kept (default: <root>/.capme/ of each store root).
    #[arg(long = "index-dir", value_name = "DIR")]
    index_dir: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct IndexArgs {
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    index: IndexDirArgs,
    /// Keep indexing new and growing files (every 10 s) and remove the indexes of deleted
    /// capture files, until interrupted.
    #[arg(long)]
    follow: bool,
    /// Print a JSON report per pass instead of a line.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct FilesArgs {
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    sensors: SensorArgs,
    #[command(flatten)]
    index: IndexDirArgs,
    #[command(flatten)]
    window: WindowArgs,
    /// Print a JSON array instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct CidArgs {
    /// Source IP address.
    #[arg(long, value_name = "IP")]
    sip: String,
    /// Source port (ICMP: type).
    #[arg(long, value_name = "N")]
    spt: Option<String>,
    /// Destination IP address.
    #[arg(long, value_name = "IP")]
    dip: String,
    /// Destination port (ICMP: code).
    #[arg(long, value_name = "N")]
    dpt: Option<String>,
    /// Protocol: tcp, udp, sctp, icmp, icmp6 or a number.
    #[arg(long, value_name = "P")]
    proto: String,
    /// Community ID seed.
    #[arg(long, value_name = "N", default_value_t = 0)]
    seed: u16,
    /// Print the hash as hex instead of base64.
    #[arg(long = "no-base64")]
    no_base64: bool,
}

/// The exit code of an error kind (exhaustive: a new kind must be given its code here).
fn exit_code(e: &Error) -> u8 {
    match e.kind() {
        ErrorKind::NoPackets => 1,
        ErrorKind::InvalidQuery => 2,
        ErrorKind::Io | ErrorKind::Format | ErrorKind::Store | ErrorKind::Cancelled => 3,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Extract(a) => extract(*a),
        Cmd::Transcript(a) => transcript(*a),
        Cmd::Files(a) => files(a),
        Cmd::CommunityId(a) => community_id(a),
        Cmd::Index(a) => index(a),
        Cmd::Serve(a) => serve(*a),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("capme: {e}");
            ExitCode::from(exit_code(&e))
        }
    }
}

fn extract(a: ExtractArgs) -> Result<(), Error> {
    if let Some(url) = &a.store.remote {
        return extract_remote(&a, url);
    }
    // The query is parsed before the store is opened, so a bad query is exit 2 whatever the
    // store.
    let query = match a.query.query() {
        Ok(q) => q.with_decapsulate(a.decapsulate),
        Err(e) => {
            // A Zeek uid in no log is exit 1 like an empty result: --json prints its summary.
            if let (true, Some(s)) = (a.json, capme_core::Summary::of_no_packets(&e)) {
                println!("{}", serde_json::to_string(&s).expect("summary serializes"));
            }
            return Err(e);
        }
    };
    let mut store = a.sensors.apply(a.search.open(&a.store.local())?);
    let (query, grow_warning) = a.query.grow(&store, query)?;
    let started = std::time::Instant::now();
    let progress = Progress::start(&mut store, &query)?;
    if a.json && a.output.as_deref() == Some(std::path::Path::new("-")) {
        return Err(Error::invalid(
            "json",
            "-o -",
            "stdout carries the capture; --json cannot share it",
        ));
    }
    let compress = a.compress.map(CompressArg::format);
    let result = match (&a.output, &a.archive) {
        (Some(out), _) if out.as_os_str() == "-" => extract_to_stdout(&store, &query, compress),
        (Some(out), _) if compress.is_some() => {
            store.extract_to_compressed_file(&query, out, compress.unwrap(), a.force)
        }
        (Some(out), _) if a.force => store.extract_to_file_replacing(&query, out),
        (Some(out), _) => store.extract_to_file(&query, out),
        (None, Some(dir)) => store.extract_to_archive(&query, dir, a.force),
        (None, None) => unreachable!("clap requires -o or --archive"),
    };
    drop(progress);
    let mut summary = match result {
        Ok(s) => s,
        Err(e) => {
            // Nothing matched: the warnings come first (they may explain it), and --json
            // still prints the summary, so a caller sees the damage, not just the absence.
            if let Some(mut s) = capme_core::Summary::of_no_packets(&e) {
                for w in &s.warning_messages {
                    eprintln!("capme: warning: {w}");
                }
                if a.json {
                    s.elapsed_ms = started.elapsed().as_millis() as u64;
                    println!("{}", serde_json::to_string(&s).expect("summary serializes"));
                }
            }
            return Err(e);
        }
    };
    if let Some(w) = grow_warning {
        summary.warning_messages.push(w);
        summary.warnings = summary.warning_messages.len() as u64;
    }
    for w in &summary.warning_messages {
        eprintln!("capme: warning: {w}");
    }
    if a.json {
        println!(
            "{}",
            serde_json::to_string(&summary).expect("summary serializes")
        );
    } else if summary.output.as_deref() == Some(std::path::Path::new("-")) {
        // stdout carries the capture: the summary goes to stderr.
        for line in human_summary(&summary).lines() {
            eprintln!("capme: {line}");
        }
    } else {
        print!("{}", human_summary(&summary));
    }
    Ok(())
}

fn transcript(a: TranscriptArgs) -> Result<(), Error> {
    use capme_core::transcript::{Style, TranscriptOptions};
    let query = a.query.query()?;
    let style = Style::parse("style", &a.style)?;
    let mut opts = TranscriptOptions::new().style(style);
    if let Some(n) = &a.maxtx {
        opts = opts.maxtx(capme_core::store::limits::parse_count("maxtx", n)?)?;
    }
    let file = a.output.as_deref().filter(|p| p.as_os_str() != "-");
    let mut store = a.sensors.apply(a.search.open(&a.store)?);
    let (query, grow_warning) = a.query.grow(&store, query)?;
    if let Some(w) = &grow_warning {
        eprintln!("capme: warning: {w}");
    }
    let progress = Progress::start(&mut store, &query)?;
    let result = match file {
        Some(path) => store.transcript_to_file(&query, &opts, path, a.force),
        None => store.transcript(&query, &opts),
    };
    drop(progress);
    let t = match result {
        Ok(t) => t,
        Err(e) => {
            // Nothing matched: the warnings may explain it.
            if let Some(s) = capme_core::Summary::of_no_packets(&e) {
                for w in &s.warning_messages {
                    eprintln!("capme: warning: {w}");
                }
            }
            return Err(e);
        }
    };
    for w in &t.warnings {
        eprintln!("capme: warning: {w}");
    }
    match file {
        Some(path) => println!(
            "wrote {} transcript to {}: {} packets, {} bytes from src, {} from dst{}",
            style.name(),
            path.display(),
            t.packets,
            t.src_bytes,
            t.dst_bytes,
            if t.truncated {
                " (truncated at maxtx)"
            } else {
                ""
            }
        ),
        None => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            out.write_all(t.text.as_bytes())
                .and_then(|_| out.flush())
                .map_err(|e| Error::io("<stdout>", e))?;
        }
    }
    if t.truncated && style == Style::Json {
        // The JSON lines carry only segments: the notice goes beside them.
        eprintln!(
            "capme: transcript truncated at maxtx = {} bytes: the flow has more payload than shown",
            t.maxtx
        );
    }
    Ok(())
}

/// `capme extract --remote URL`: the query's parameters sent to the server (see
/// capme_serve::remote), the summary printed as a local extraction prints it.
fn extract_remote(a: &ExtractArgs, url: &str) -> Result<(), Error> {
    let local_only = a.search.threads.is_some()
        || a.search.index.index_dir.is_some()
        || a.search.no_index
        || a.search.limits.max_packets.is_some()
        || a.search.limits.max_bytes.is_some()
        || a.search.limits.max_window.is_some();
    if local_only {
        return Err(Error::invalid(
            "remote",
            url,
            "--threads, --index-dir, --no-index and --max-* apply to a local store; the \
             server's own settings apply to --remote",
        ));
    }
    // The server sends plain captures; writing them compressed is not done here yet, and a
    // plain file under the name asked for compressed output would be a silent surprise.
    if let Some(c) = a.compress {
        return Err(Error::invalid(
            "compress",
            c.format().name(),
            "--compress applies to a local store; not with --remote",
        ));
    }
    let peer = capme_serve::peer::Peer::parse(&format!("remote={url}"))
        .map_err(|e| Error::invalid("remote", url, e))?;
    // The query is parsed here first (exit 2 before any request). A Zeek uid is looked up
    // here, in the --zeek-logs given, and the server is sent the record's tuple and window.
    let parsed = match a.query.query() {
        Ok(q) => q,
        Err(e) => {
            if let (true, Some(s)) = (a.json, capme_core::Summary::of_no_packets(&e)) {
                println!("{}", serde_json::to_string(&s).expect("summary serializes"));
            }
            return Err(e);
        }
    };
    let credential = match &a.store.remote_user {
        Some(user) => Some(capme_serve::peer::Credential::Basic {
            user: user.clone(),
            password: std::env::var("CAPME_PASSWORD").map_err(|_| {
                Error::invalid(
                    "remote_user",
                    user.clone(),
                    "set the password in the environment variable CAPME_PASSWORD",
                )
            })?,
        }),
        None => std::env::var("CAPME_TOKEN")
            .ok()
            .filter(|t| !t.is_empty())
            .map(capme_serve::peer::Credential::Bearer),
    };
    let client = capme_serve::peer::Client::new(
        capme_serve::peer::DEFAULT_TIMEOUT,
        a.store.remote_ca.as_deref(),
    )
    .map_err(|e| Error::invalid("remote_ca", url, e))?;
    let remote = capme_serve::remote::Remote {
        url: peer.url,
        credential,
        client,
    };
    let q = &a.query;
    let mut params: Vec<(String, String)> = if q.zeek_uid.is_some() {
        resolved_params(&parsed)
    } else {
        [
            ("sip", &q.sip),
            ("spt", &q.spt),
            ("dip", &q.dip),
            ("dpt", &q.dpt),
            ("proto", &q.proto),
            ("community_id", &q.community_id),
            ("url", &q.url),
            ("zeek_uid", &q.zeek_uid),
            ("stime", &q.stime),
            ("etime", &q.etime),
            ("pad", &q.pad),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k.to_string(), v.clone())))
        .collect()
    };
    if q.whole_flow {
        params.push(("whole_flow".into(), "1".into()));
    }
    // The layer as parsed (a bad one was refused above); the server's default is any.
    if parsed.layer != Layer::Any {
        params.push(("layer".into(), parsed.layer.name().into()));
    }
    if a.decapsulate {
        params.push(("decapsulate".into(), "1".into()));
    }
    for s in &a.sensors.sensor {
        params.push(("sensor".into(), s.clone()));
    }
    let out = match a.output.as_deref() {
        Some(p) if p.as_os_str() == "-" => {
            if a.json {
                return Err(Error::invalid(
                    "json",
                    "-o -",
                    "stdout carries the capture; --json cannot share it",
                ));
            }
            capme_serve::remote::Output::Stdout
        }
        Some(p) => capme_serve::remote::Output::File {
            path: p,
            replace: a.force,
        },
        None => unreachable!("clap requires -o without --archive, and --remote refuses --archive"),
    };
    let summary = match remote.extract(&params, out) {
        Ok(s) => s,
        Err(e) => {
            if let (true, Some(s)) = (a.json, capme_core::Summary::of_no_packets(&e)) {
                println!("{}", serde_json::to_string(&s).expect("summary serializes"));
            }
            return Err(e);
        }
    };
    for w in &summary.warning_messages {
        eprintln!("capme: warning: {w}");
    }
    if a.json {
        println!(
            "{}",
            serde_json::to_string(&summary).expect("summary serializes")
        );
    } else if matches!(out, capme_serve::remote::Output::Stdout) {
        for line in human_summary(&summary).lines() {
            eprintln!("capme: {line}");
        }
    } else {
        print!("{}", human_summary(&summary));
    }
    Ok(())
}

/// The API parameters of a parsed query: its tuple (or Community ID) and its exact window
/// (`SECONDS.NANOSECONDS`, which the server's parser reads back to the nanosecond).
fn resolved_params(q: &Query) -> Vec<(String, String)> {
    let mut p: Vec<(String, String)> = Vec::new();
    let mut put = |k: &str, v: String| p.push((k.to_string(), v));
    match &q.flow {
        capme_core::FlowSpec::Tuple {
            src, dst, proto, ..
        } => {
            put("sip", src.addr.to_string());
            put("spt", src.port.to_string());
            put("dip", dst.addr.to_string());
            put("dpt", dst.port.to_string());
            if let Some(pr) = proto {
                put("proto", pr.0.to_string());
            }
        }
        capme_core::FlowSpec::CommunityId { id, .. } => put("community_id", id.to_base64()),
    }
    let exact = |t: capme_core::Timestamp| format!("{}.{:09}", t.secs(), t.subsec_nanos());
    put("stime", exact(q.window.start));
    put("etime", exact(q.window.end));
    p
}

/// `-o -`: the capture goes to stdout, as `tcpdump -w -` does. It is written to a temporary
/// file first (the output may turn from pcap into pcapng when a packet of another link type
/// arrives, which rewrites what came before), then copied to stdout.
fn extract_to_stdout(
    store: &Store,
    query: &Query,
    compress: Option<capme_core::capture::Compression>,
) -> Result<Summary, Error> {
    let dir = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let tmp = dir.path().join("capme-stdout.pcap");
    let mut summary = match compress {
        Some(c) => store.extract_to_compressed_file(query, &tmp, c, false)?,
        None => store.extract_to_file(query, &tmp)?,
    };
    let tmp = summary.output.clone().unwrap_or(tmp);
    let mut f = std::fs::File::open(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let mut out = std::io::stdout().lock();
    std::io::copy(&mut f, &mut out)
        .and_then(|_| std::io::Write::flush(&mut out))
        .map_err(|e| Error::io("<stdout>", e))?;
    summary.output = Some("-".into());
    Ok(summary)
}

/// A progress bar on stderr for extractions that take more than a second, when stderr is a
/// terminal (never on stdout, so `--json` output stays one object).
struct Progress {
    done: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    fn start(store: &mut Store, query: &Query) -> Result<Option<Progress>, Error> {
        // A window over the limit: the extraction refuses it (no listing for the bar first).
        if !std::io::stderr().is_terminal() || store.check_window(&query.window).is_err() {
            return Ok(None);
        }
        let total: u64 = store.plan(&query.window)?.files().map(|f| f.size).sum();
        let counter = Arc::new(AtomicU64::new(0));
        *store = store.clone().with_progress(counter.clone());
        let done = Arc::new(AtomicBool::new(false));
        let stop = done.clone();
        let thread = std::thread::spawn(move || {
            let t0 = std::time::Instant::now();
            let mut bar: Option<indicatif::ProgressBar> = None;
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(std::time::Duration::from_millis(100));
                if t0.elapsed() < std::time::Duration::from_secs(1) {
                    continue;
                }
                let b = bar.get_or_insert_with(|| {
                    progress_bar(
                        total,
                        "{spinner} {bytes}/{total_bytes} of capture files ({bytes_per_sec}, {eta} left)",
                    )
                });
                b.set_position(counter.load(Ordering::Relaxed).min(total));
            }
            if let Some(b) = bar {
                b.finish_and_clear();
            }
        });
        Ok(Some(Progress {
            done,
            thread: Some(thread),
        }))
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The human summary, six lines at most, each ending in a newline.
fn human_summary(s: &Summary) -> String {
    let out = s
        .output
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let when = |ns: Option<i64>| {
        ns.map(|n| capme_core::Timestamp(n).to_rfc3339())
            .unwrap_or_default()
    };
    let mut text = format!(
        "{} {} ({}) to {out}\n  first {}  last {}\n",
        if s.cached { "archive has" } else { "wrote" },
        count(s.packets, "packet"),
        count(s.bytes, "byte"),
        when(s.first_ts_ns),
        when(s.last_ts_ns)
    );
    if let Some(c) = &s.community_id {
        text += &format!("  community id {c}\n");
    }
    if s.truncated {
        text += "  truncated at a limit: more packets matched (see the warning)\n";
    }
    if let Some(e) = s.encapsulated.describe() {
        text += &format!("  encapsulated {e}\n");
    }
    text += &format!(
        "  scanned {}, {} through their index ({} read) in {} ms{}\n",
        count(s.files_scanned, "file"),
        s.files_indexed,
        count(s.bytes_read, "byte"),
        s.elapsed_ms,
        if s.warnings > 0 {
            format!(", {}", count(s.warnings, "warning"))
        } else {
            String::new()
        }
    );
    text
}

/// `1 file`, `2 files`.
fn count(n: u64, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

fn files(a: FilesArgs) -> Result<(), Error> {
    let window = TimeWindow::parse(&a.window.stime, &a.window.etime)?;
    let mut store = a.sensors.apply(a.store.open()?);
    if let Some(d) = &a.index.index_dir {
        store = store.with_index_dir(d);
    }
    let plan = store.plan(&window)?;
    for w in &plan.warnings {
        eprintln!("capme: warning: {w}");
    }
    if plan.files().next().is_none() {
        // An empty answer says why, on stderr (stdout stays an empty table or `[]`).
        // The plan lists only what the window can need; the whole store is counted here.
        let in_store = store.count_files()?;
        if in_store == 0 {
            eprintln!("capme: the store holds no capture file");
        } else {
            eprintln!(
                "capme: no capture file covers the window ({} in the store)",
                count(in_store, "capture file")
            );
        }
    }
    if a.json {
        let v: Vec<serde_json::Value> = plan
            .files()
            .map(|f| {
                serde_json::json!({
                    "path": f.path,
                    "sensor": &*f.sensor,
                    "start": f.start.as_secs_f64(),
                    "start_ns": f.start.as_nanos(),
                    "end": f.end.map(|e| e.as_secs_f64()),
                    "end_ns": f.end.map(|e| e.as_nanos()),
                    "size": f.size,
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(v));
    } else {
        for f in plan.files() {
            let end = f
                .end
                .map(|e| e.to_rfc3339())
                .unwrap_or_else(|| "(newest)".into());
            println!(
                "{}\t{}\t{}\t{}\t{}",
                f.path.display(),
                f.sensor,
                f.start.to_rfc3339(),
                end,
                f.size
            );
        }
    }
    Ok(())
}

fn index(a: IndexArgs) -> Result<(), Error> {
    let mut store = a.store.open()?;
    if let Some(d) = &a.index.index_dir {
        store = store.with_index_dir(d);
    }
    loop {
        let t0 = std::time::Instant::now();
        let r = index_pass(&store)?;
        for w in &r.warnings {
            eprintln!("capme: warning: {w}");
        }
        if a.json {
            println!("{}", serde_json::to_string(&r).expect("report serializes"));
        } else {
            let secs = t0.elapsed().as_secs_f64();
            println!(
                "indexed {} ({}) in {:.2} s, {:.0} MB/s; {} already fresh, {} not indexable; index {} ({:.3} % of the capture); removed {} orphaned",
                count(r.built, "file"),
                count(r.capture_bytes, "byte"),
                secs,
                r.capture_bytes as f64 / 1e6 / secs.max(1e-9),
                r.fresh,
                r.skipped,
                count(r.index_bytes, "byte"),
                100.0 * r.index_bytes as f64 / (r.capture_bytes.max(1)) as f64,
                r.removed
            );
        }
        if !a.follow {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_secs(10));
    }
}

/// A progress bar on stderr of `total` steps, drawn with `template`.
fn progress_bar(total: u64, template: &str) -> indicatif::ProgressBar {
    let b = indicatif::ProgressBar::with_draw_target(
        Some(total),
        indicatif::ProgressDrawTarget::stderr(),
    );
    b.set_style(indicatif::ProgressStyle::with_template(template).expect("valid template"));
    b
}

/// One `capme index` pass, with a progress bar on a terminal once it takes over a second.
fn index_pass(store: &Store) -> Result<capme_core::index::IndexReport, Error> {
    let progress = Arc::new(capme_core::index::IndexProgress::default());
    let done = Arc::new(AtomicBool::new(false));
    let thread = std::io::stderr().is_terminal().then(|| {
        let (progress, done) = (progress.clone(), done.clone());
        std::thread::spawn(move || {
            let t0 = std::time::Instant::now();
            let mut bar: Option<indicatif::ProgressBar> = None;
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(std::time::Duration::from_millis(100));
                let total = progress.total.load(Ordering::Relaxed);
                if t0.elapsed() < std::time::Duration::from_secs(1) || total == 0 {
                    continue;
                }
                let b = bar.get_or_insert_with(|| {
                    progress_bar(
                        total,
                        "{spinner} indexed {pos}/{len} capture files ({per_sec}, {eta} left)",
                    )
                });
                b.set_position(progress.done.load(Ordering::Relaxed));
            }
            if let Some(b) = bar {
                b.finish_and_clear();
            }
        })
    });
    let r = capme_core::index::build_indexes_with_progress(store, Some(&progress));
    done.store(true, Ordering::Relaxed);
    if let Some(t) = thread {
        let _ = t.join();
    }
    r
}

fn serve(a: ServeArgs) -> Result<(), Error> {
    let auth_error = |field: &'static str, value: String, e: capme_auth::ConfigError| {
        Error::invalid(field, value, e.to_string())
    };
    if let (Some(name), Some(users)) = (&a.add_user, &a.users) {
        eprintln!("capme: password for {name} (one line on stdin):");
        capme_auth::add_user_from_stdin(users, name)
            .map_err(|e| auth_error("add_user", name.clone(), e))?;
        eprintln!("capme: {name} added to {}", users.display());
        return Ok(());
    }
    if let (Some(name), Some(tokens)) = (&a.add_token, &a.tokens) {
        let token = capme_auth::add_token(tokens, name)
            .map_err(|e| auth_error("add_token", name.clone(), e))?;
        // The token goes to stdout only (for a pipe or a copy); the file keeps its hash. A
        // closed stdout is an error, not a panic: run --add-token again for a new token.
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{token}")
            .and_then(|()| out.flush())
            .map_err(|e| Error::io("<stdout>", e))?;
        eprintln!(
            "capme: a new token for {name} is stored (as a hash) in {}; it was printed on \
             stdout and cannot be shown again",
            tokens.display()
        );
        return Ok(());
    }
    let listen = a
        .listen
        .expect("clap requires --listen without --add-user or --add-token");
    let auth = capme_auth::Auth::with_options(
        &capme_auth::AuthOptions {
            users: a.users.as_deref(),
            tokens: a.tokens.as_deref(),
            trusted_header: a.trusted_header.as_deref(),
            insecure_no_auth: a.insecure_no_auth,
        },
        &[listen],
    )
    .map_err(|e| auth_error("auth", listen.to_string(), e))?;
    eprintln!("capme serve: authentication: {auth}");
    let store_args = StoreArgs {
        store: a.store,
        no_catalogue: a.no_catalogue,
    };
    let store = a.search.open(&store_args)?;
    let mut config = capme_serve::ServeConfig::new(store, listen, auth);
    config.archive = a.archive;
    config.zeek_logs = a.zeek_logs;
    config.max_concurrent = usize::from(a.max_concurrent);
    config.watch = !a.no_watch;
    config.peer_timeout = std::time::Duration::from_secs(a.peer_timeout);
    config.peer_ca = a.peer_ca;
    for arg in &a.peer {
        config
            .peers
            .push(capme_serve::peer::Peer::parse(arg).map_err(|e| Error::invalid("peer", arg, e))?);
    }
    if let Some(file) = &a.peer_credentials {
        let names: Vec<&str> = config.peers.iter().map(|p| p.name.as_str()).collect();
        let (mut creds, warning) = capme_serve::peer::read_credentials(file, &names)
            .map_err(|e| Error::invalid("peer_credentials", file.display().to_string(), e))?;
        if let Some(w) = warning {
            eprintln!("capme serve: warning: {w}");
        }
        for p in &mut config.peers {
            p.credential = creds.remove(&p.name);
        }
    }
    if let (Some(cert), Some(key)) = (a.tls_cert, a.tls_key) {
        config.tls = Some(capme_serve::TlsFiles { cert, key });
    }
    capme_serve::run(config).map_err(|e| Error::io("capme serve", e))
}

fn community_id(a: CidArgs) -> Result<(), Error> {
    let id = capme_core::tuple_community_id(
        &a.sip,
        a.spt.as_deref(),
        &a.dip,
        a.dpt.as_deref(),
        &a.proto,
        a.seed,
    )?;
    println!(
        "{}",
        if a.no_base64 {
            id.to_hex()
        } else {
            id.to_base64()
        }
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn counts_say_one_file_and_two_files() {
        assert_eq!(count(1, "file"), "1 file");
        assert_eq!(count(0, "file"), "0 files");
        assert_eq!(count(2, "packet"), "2 packets");
    }
}

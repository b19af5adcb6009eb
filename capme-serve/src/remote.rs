//! `capme extract --remote URL`: a query run by a `capme serve` instead of a local store,
//! with the same summary and errors as a local extraction.
//!
//! Two requests: `/api/v1/pcap` streams the capture into the output (a temporary file renamed
//! into place, or stdout) while capme-core's `CaptureReader` reads the same bytes to count
//! packets, bytes and first/last timestamps (what was written, exactly); then
//! `/api/v1/summary` of the same query gives what only the server knows (files read, its
//! warnings, `truncated`, the Community ID). The second request repeats the server's search;
//! when it fails, the summary says so in a warning. Warnings the capture's response carried
//! (`x-capme-warning`: peers that failed) are kept too.
//!
//! The server's errors become capme-core errors of the same kind, so the CLI's exit codes are
//! the local ones: 404 no packets (1), 400/413 invalid input (2), anything else (3).

use crate::fanout::{saw, seal, summary_of_json};
use crate::peer::{Client, Credential, Failure};
use capme_core::capture::CaptureReader;
use capme_core::{Error, Summary};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// A server to ask.
#[derive(Debug, Clone)]
pub struct Remote {
    /// Its base URL (`https://host:8443`), without a trailing `/`.
    pub url: String,
    /// Sent with each request, when set.
    pub credential: Option<Credential>,
    /// The client.
    pub client: Client,
}

/// Where the capture goes.
#[derive(Debug, Clone, Copy)]
pub enum Output<'a> {
    /// A new file (replacing an existing regular file only when `replace`).
    File {
        /// The path.
        path: &'a Path,
        /// Replace an existing regular file.
        replace: bool,
    },
    /// Standard output (streamed as it comes).
    Stdout,
}

/// A reader that writes what it reads.
struct Tee<W: Write> {
    inner: Box<dyn Read + Send>,
    out: W,
    out_name: String,
}

impl<W: Write> Read for Tee<W> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out.write_all(&buf[..n]).map_err(|e| {
            std::io::Error::new(e.kind(), format!("writing {}: {e}", self.out_name))
        })?;
        Ok(n)
    }
}

impl Remote {
    /// Runs the query `params` (the API's parameters, as the CLI's flags name them) on the
    /// server and writes its capture to `out`. See the module documentation.
    pub fn extract(&self, params: &[(String, String)], out: Output) -> Result<Summary, Error> {
        let started = std::time::Instant::now();
        let query = serde_urlencoded::to_string(params).unwrap_or_default();
        if let Output::File { path, replace } = out {
            capme_core::sink::check_output(path, replace)?;
        }
        let resp = self
            .client
            .get(&self.url, "/api/v1/pcap", &query, self.credential.as_ref())
            .map_err(|f| self.error(f, params))?;
        let mut warnings: Vec<String> = resp
            .all("x-capme-warning")
            .into_iter()
            .map(str::to_string)
            .collect();
        let body: Box<dyn Read + Send> = Box::new(resp.into_reader());
        let mut sum = match out {
            Output::Stdout => {
                let tee = Tee {
                    inner: body,
                    out: std::io::stdout(),
                    out_name: "<stdout>".into(),
                };
                let s = self.count(tee, &mut warnings)?;
                std::io::stdout()
                    .flush()
                    .map_err(|e| Error::io("<stdout>", e))?;
                Summary {
                    output: Some("-".into()),
                    ..s
                }
            }
            Output::File { path, replace } => {
                let dir = match path.parent() {
                    Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                    _ => PathBuf::from("."),
                };
                let tmp = tempfile::Builder::new()
                    .prefix(".capme-remote-")
                    .tempfile_in(&dir)
                    .map_err(|e| Error::io(&dir, e))?;
                let file = tmp.reopen().map_err(|e| Error::io(tmp.path(), e))?;
                let tee = Tee {
                    inner: body,
                    out: std::io::BufWriter::new(file),
                    out_name: path.display().to_string(),
                };
                let s = self.count(tee, &mut warnings)?;
                let persisted = if replace {
                    tmp.persist(path).map_err(|e| e.error)
                } else {
                    tmp.persist_noclobber(path).map_err(|e| e.error)
                };
                persisted.map_err(|e| Error::io(path, e))?;
                Summary {
                    output: Some(path.to_path_buf()),
                    ..s
                }
            }
        };
        match self
            .client
            .get(
                &self.url,
                "/api/v1/summary",
                &query,
                self.credential.as_ref(),
            )
            .map_err(|f| f.to_string())
            .and_then(|r| {
                let mut b = Vec::new();
                r.into_reader()
                    .take(16 << 20)
                    .read_to_end(&mut b)
                    .map_err(|e| e.to_string())?;
                serde_json::from_slice::<serde_json::Value>(&b).map_err(|e| e.to_string())
            }) {
            Ok(v) => {
                let s = summary_of_json(&v);
                sum.files_scanned = s.files_scanned;
                sum.files_indexed = s.files_indexed;
                sum.bytes_read = s.bytes_read;
                sum.community_id = s.community_id;
                sum.truncated = s.truncated;
                for w in s.warning_messages {
                    if !warnings.contains(&w) {
                        warnings.push(w);
                    }
                }
            }
            Err(e) => warnings.push(format!(
                "{}: the summary request failed ({e}): the files read and the server's \
                 warnings are unknown",
                self.url
            )),
        }
        sum.warning_messages = warnings;
        seal(&mut sum, started);
        Ok(sum)
    }

    /// Reads the capture through `tee` (which writes it out), counting what it holds.
    fn count<W: Write + Send + 'static>(
        &self,
        tee: Tee<W>,
        warnings: &mut Vec<String>,
    ) -> Result<Summary, Error> {
        let label = PathBuf::from(&self.url);
        let (back, rx_out) = std::sync::mpsc::channel();
        let rest = Ending {
            tee: Some(tee),
            back,
        };
        let mut reader = CaptureReader::from_read(Box::new(rest), label.clone())?;
        let mut sum = Summary::default();
        while let Some((rec, iface)) = reader.next_with_interface()? {
            saw(&mut sum, rec.ts, iface.linktype, rec.data);
        }
        for d in reader.damage() {
            warnings.push(d.warning(&label));
        }
        if reader.trailing_bytes() > 0 {
            warnings.push(format!(
                "{}: {} bytes after the last whole record",
                self.url,
                reader.trailing_bytes()
            ));
        }
        drop(reader);
        // The tee comes back once it reached the end: flush what it wrote.
        if let Ok(mut tee) = rx_out.try_recv() {
            let name = tee.out_name.clone();
            tee.out.flush().map_err(|e| Error::io(name, e))?;
        } else {
            return Err(Error::io(
                label,
                std::io::Error::other("the capture's end was not read"),
            ));
        }
        if sum.packets == 0 {
            return Err(Error::NotFound {
                what: format!("a packet at {}", self.url),
                searched: "the server sent a capture without packets".into(),
            });
        }
        Ok(sum)
    }

    /// The capme-core error of a failed request, of the kind the server's status says.
    fn error(&self, f: Failure, params: &[(String, String)]) -> Error {
        match f {
            Failure::Status {
                status: 404, error, ..
            } => Error::NotFound {
                what: format!("the flow at {}", self.url),
                searched: error,
            },
            Failure::Status {
                status: 400 | 413,
                error,
                field,
                ..
            } => {
                let field = field.unwrap_or_default();
                let value = params
                    .iter()
                    .find(|(k, _)| *k == field)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                Error::invalid(
                    static_field(&field),
                    value,
                    format!("{} answered: {error}", self.url),
                )
            }
            f => Error::io(&self.url, std::io::Error::other(f.to_string())),
        }
    }
}

/// The rest of the capture after its first bytes; sends the tee back at the end so that its
/// writer can be flushed (and its error reported) by the caller.
struct Ending<W: Write> {
    tee: Option<Tee<W>>,
    back: std::sync::mpsc::Sender<Tee<W>>,
}

impl<W: Write> Read for Ending<W> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let Some(tee) = self.tee.as_mut() else {
            return Ok(0);
        };
        let n = tee.read(buf)?;
        if n == 0 && !buf.is_empty() {
            if let Some(t) = self.tee.take() {
                let _ = self.back.send(t);
            }
        }
        Ok(n)
    }
}

/// The query field a server's 400 names, as the `&'static str` capme-core's error holds.
fn static_field(f: &str) -> &'static str {
    // Besides the query's own parameters, the limits and the query as a whole.
    crate::FLOW_PARAMS
        .iter()
        .chain(&["window", "max_bytes", "max_packets", "query"])
        .find(|k| **k == f)
        .copied()
        .unwrap_or("remote")
}

//! A server on a loopback port, in this process, on a runtime of its own thread.

#![allow(dead_code)]

use capme_serve::{ServeConfig, Server};
use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;

pub struct TestServer {
    pub base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    pub fn start(config: ServeConfig) -> TestServer {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel::<SocketAddr>();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a runtime");
            rt.block_on(async move {
                let server = Server::bind(config).await.expect("bind");
                addr_tx.send(server.local_addr().expect("addr")).unwrap();
                server
                    .serve(async {
                        let _ = stop_rx.await;
                    })
                    .await
                    .expect("serve");
            });
        });
        let addr = addr_rx.recv().expect("the server started");
        TestServer {
            base: format!("http://{addr}"),
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// GET `path`: status, headers of interest, body.
    pub fn get(&self, path: &str) -> Reply {
        get(&format!("{}{path}", self.base))
    }

    /// The value of a counter line of /metrics (0 when absent).
    pub fn metric(&self, line_start: &str) -> u64 {
        let m = self.get("/metrics").text();
        m.lines()
            .find_map(|l| {
                l.strip_prefix(line_start)
                    .map(|v| v.trim().parse().unwrap())
            })
            .unwrap_or(0)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub disposition: String,
    pub challenge: Option<String>,
    /// Every `x-capme-warning` header.
    pub warnings: Vec<String>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }
}

pub fn get(url: &str) -> Reply {
    let r = match ureq::get(url).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("GET {url}: {e}"),
    };
    let status = r.status();
    let content_type = r.header("content-type").unwrap_or_default().to_string();
    let disposition = r
        .header("content-disposition")
        .unwrap_or_default()
        .to_string();
    let challenge = r.header("www-authenticate").map(str::to_string);
    let warnings = r
        .all("x-capme-warning")
        .into_iter()
        .map(str::to_string)
        .collect();
    let mut body = Vec::new();
    r.into_reader().read_to_end(&mut body).expect("a body");
    Reply {
        status,
        content_type,
        disposition,
        challenge,
        warnings,
        body,
    }
}

pub fn sample_store() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/data/store")
}

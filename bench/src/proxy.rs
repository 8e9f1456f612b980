//! A counting HTTP/1.1 reverse proxy in front of Azurite.
//!
//! Every request is forwarded unchanged (method, path, query, headers and body;
//! the `Host` header too): Table Storage's SharedKey signature covers the verb,
//! `Content-Type`, `x-ms-date` and the canonicalized resource (`/account/path`),
//! not the host or port, so a request signed for the proxy's address is valid at
//! Azurite's. The proxy only counts requests, by kind.

use crate::report::thousands;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

/// What a Table Storage request does, from its method and URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// `POST …/$batch` (entity-group transaction).
    Batch,
    /// `GET …/table()?$filter=…` (one page of a query).
    Query,
    /// `GET …/table(PartitionKey='…',RowKey='…')`.
    Get,
    /// `POST …/table` (insert one entity).
    Insert,
    /// `PUT` (replace) of one entity.
    Replace,
    /// `MERGE`/`PATCH` of one entity.
    Merge,
    /// `DELETE` of one entity.
    Delete,
    /// `POST …/Tables` (create table).
    CreateTable,
    Other,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Batch => "batch",
            Kind::Query => "query",
            Kind::Get => "get",
            Kind::Insert => "insert",
            Kind::Replace => "replace",
            Kind::Merge => "merge",
            Kind::Delete => "delete",
            Kind::CreateTable => "create table",
            Kind::Other => "other",
        }
    }

    pub fn classify(method: &Method, path: &str) -> Kind {
        let last = path.rsplit('/').next().unwrap_or("");
        let entity = last.contains("PartitionKey");
        match method.as_str() {
            "POST" if last == "$batch" => Kind::Batch,
            "POST" if last.eq_ignore_ascii_case("Tables") => Kind::CreateTable,
            "POST" => Kind::Insert,
            "GET" if entity => Kind::Get,
            "GET" => Kind::Query,
            "PUT" => Kind::Replace,
            "MERGE" | "PATCH" => Kind::Merge,
            "DELETE" if entity => Kind::Delete,
            _ => Kind::Other,
        }
    }
}

/// Requests seen, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts(pub BTreeMap<Kind, usize>);

impl Counts {
    pub fn total(&self) -> usize {
        self.0.values().sum()
    }

    /// `3 (1 get, 1 replace, 1 delete)`.
    pub fn describe(&self) -> String {
        if self.total() == 0 {
            return "0".into();
        }
        let parts: Vec<String> = self
            .0
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| format!("{} {}", thousands(*n), k.as_str()))
            .collect();
        format!("{} ({})", thousands(self.total()), parts.join(", "))
    }
}

/// A running proxy. Dropping it does not stop it (it lives as long as the bench).
#[derive(Clone)]
pub struct Proxy {
    addr: SocketAddr,
    counts: Arc<Mutex<Counts>>,
}

impl Proxy {
    /// Listens on a free port of 127.0.0.1 and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let counts = Arc::new(Mutex::new(Counts::default()));
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client: Client<HttpConnector, Incoming> =
            Client::builder(TokioExecutor::new()).build(connector);
        let seen = counts.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let (client, seen) = (client.clone(), seen.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<Incoming>| {
                        let (client, seen) = (client.clone(), seen.clone());
                        async move {
                            let kind = Kind::classify(req.method(), req.uri().path());
                            if let Ok(mut c) = seen.lock() {
                                *c.0.entry(kind).or_default() += 1;
                            }
                            let (mut parts, body) = req.into_parts();
                            let pq = parts
                                .uri
                                .path_and_query()
                                .map(|p| p.as_str().to_owned())
                                .unwrap_or_else(|| "/".into());
                            parts.uri = format!("http://{upstream}{pq}")
                                .parse()
                                .expect("a valid upstream URI");
                            let answer: Result<Response<Incoming>, _> =
                                client.request(Request::from_parts(parts, body)).await;
                            answer
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Proxy { addr, counts })
    }

    /// `http://127.0.0.1:PORT/devstoreaccount1`
    pub fn endpoint(&self) -> String {
        format!("http://{}/{}", self.addr, gamefleet_sim::azurite::ACCOUNT)
    }

    /// A connection string for gamefleet, through the proxy.
    pub fn connection_string(&self) -> String {
        connection_string(&self.endpoint())
    }

    pub fn reset(&self) {
        if let Ok(mut c) = self.counts.lock() {
            c.0.clear();
        }
    }

    pub fn counts(&self) -> Counts {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

/// The emulator account's connection string for a table endpoint.
pub fn connection_string(table_endpoint: &str) -> String {
    format!(
        "DefaultEndpointsProtocol=http;AccountName={};AccountKey={};TableEndpoint={table_endpoint};",
        gamefleet_sim::azurite::ACCOUNT,
        gamefleet_sim::azurite::ACCOUNT_KEY
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_table_requests() {
        let m = |s: &str| Method::from_bytes(s.as_bytes()).unwrap();
        let c = |method: &str, path: &str| Kind::classify(&m(method), path);
        assert_eq!(c("POST", "/devstoreaccount1/$batch"), Kind::Batch);
        assert_eq!(c("POST", "/devstoreaccount1/Tables"), Kind::CreateTable);
        assert_eq!(c("POST", "/devstoreaccount1/t1"), Kind::Insert);
        assert_eq!(c("GET", "/devstoreaccount1/t1()"), Kind::Query);
        assert_eq!(
            c("GET", "/devstoreaccount1/t1(PartitionKey='a',RowKey='b')"),
            Kind::Get
        );
        assert_eq!(
            c("PUT", "/devstoreaccount1/t1(PartitionKey='a',RowKey='b')"),
            Kind::Replace
        );
        assert_eq!(
            c("MERGE", "/devstoreaccount1/t1(PartitionKey='a',RowKey='b')"),
            Kind::Merge
        );
        assert_eq!(
            c(
                "DELETE",
                "/devstoreaccount1/t1(PartitionKey='a',RowKey='b')"
            ),
            Kind::Delete
        );
    }
}

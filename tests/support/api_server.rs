//! A Kubernetes API server for the tests: it speaks the protocol kube-rs's
//! watcher speaks, for the four resources flowlog watches, and nothing
//! else.
//!
//! What the agent was recorded sending (a run against a logging HTTP
//! server, then checked by [`ApiServer::requests`] in the tests):
//!
//! ```text
//! GET /api/v1/pods?&limit=100
//! GET /api/v1/pods?&watch=true&timeoutSeconds=290&allowWatchBookmarks=true&resourceVersion=N
//! ```
//!
//! (and the same for `namespaces`, `services` and `nodes`). So it serves:
//!
//! - lists: `{"kind":"PodList","metadata":{"resourceVersion":"N"},"items":[…]}`,
//!   paged by `limit` and `continue`;
//! - watches: chunked JSON lines of `ADDED` / `MODIFIED` / `DELETED` events
//!   after the given resource version, a `BOOKMARK` every second, until
//!   `timeoutSeconds`; a watch from a version older than the history it
//!   keeps gets an `ERROR` event with a `410 Gone` Status, as a real API
//!   server does once etcd has compacted it;
//! - a field or label selector is refused (400), so an agent that starts
//!   sending one fails these tests instead of being silently served
//!   everything.
//!
//! Objects are k8s-openapi types, stored as their JSON; every change gets
//! the next resource version, as etcd's revision.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, Query, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::SinkExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ListMeta, Status};
use serde_json::{Value, json};

/// The resources served, with their list kind and object kind.
const RESOURCES: [(&str, &str); 4] =
    [("pods", "Pod"), ("namespaces", "Namespace"), ("services", "Service"), ("nodes", "Node")];

/// How often an open watch gets a bookmark.
const BOOKMARK_EVERY: Duration = Duration::from_secs(1);

/// A running API server; stopped (every connection closed) on drop.
pub struct ApiServer {
    address: SocketAddr,
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
}

struct Shared {
    store: Mutex<Store>,
    /// The latest revision, for watches to wait on.
    revision: tokio::sync::watch::Sender<u64>,
    requests: Mutex<Vec<String>>,
}

struct Store {
    revision: u64,
    /// Watches from before this revision are too old: 410 Gone.
    oldest: u64,
    /// Bumped to end every open watch with 410 Gone.
    expiries: u64,
    /// (resource, namespace, name) → object.
    objects: BTreeMap<(String, String, String), Value>,
    /// Every change since `oldest`: (revision, resource, event type, object).
    history: Vec<(u64, String, &'static str, Value)>,
}

impl ApiServer {
    /// Serves on `listener` (bound in whichever network namespace the agent
    /// runs in), numbering changes from `first_revision`: a server started
    /// again with another number knows none of the old versions.
    pub fn start(listener: std::net::TcpListener, first_revision: u64) -> ApiServer {
        let address = listener.local_addr().unwrap();
        let store = Store {
            revision: first_revision,
            oldest: first_revision,
            expiries: 0,
            objects: BTreeMap::new(),
            history: Vec::new(),
        };
        let shared = Arc::new(Shared {
            store: Mutex::new(store),
            revision: tokio::sync::watch::channel(first_revision).0,
            requests: Mutex::new(Vec::new()),
        });
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        listener.set_nonblocking(true).unwrap();
        let router = Router::new().route("/api/v1/{resource}", get(serve)).with_state(Arc::clone(&shared));
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, router).await.unwrap();
        });
        ApiServer { address, shared, runtime: Some(runtime) }
    }

    /// A kubeconfig whose current context is this server, written in `dir`.
    pub fn kubeconfig(&self, dir: &Path) -> PathBuf {
        let path = dir.join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster: {{server: \"http://{}\"}}\n\
             contexts:\n- name: test\n  context: {{cluster: test, user: test}}\nusers:\n- name: test\n  user: {{}}\n\
             current-context: test\n",
            self.address
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Adds `object`, or replaces it (ADDED or MODIFIED to watchers).
    pub fn apply<K: k8s_openapi::Resource + serde::Serialize>(&self, object: &K) {
        let mut value = serde_json::to_value(object).unwrap();
        let key = key_of(K::URL_PATH_SEGMENT, &value);
        let mut store = self.shared.store.lock().unwrap();
        let revision = store.next_revision(&mut value);
        let type_ = if store.objects.insert(key, value.clone()).is_some() { "MODIFIED" } else { "ADDED" };
        store.history.push((revision, K::URL_PATH_SEGMENT.to_owned(), type_, value));
        self.shared.revision.send_replace(revision);
    }

    /// Deletes the `K` named `name` in `namespace` (empty for nodes and
    /// namespaces): DELETED to watchers, with its last state.
    pub fn delete<K: k8s_openapi::Resource>(&self, namespace: &str, name: &str) {
        let key = (K::URL_PATH_SEGMENT.to_owned(), namespace.to_owned(), name.to_owned());
        let mut store = self.shared.store.lock().unwrap();
        let mut value = store.objects.remove(&key).unwrap_or_else(|| panic!("no {key:?} to delete"));
        let revision = store.next_revision(&mut value);
        store.history.push((revision, K::URL_PATH_SEGMENT.to_owned(), "DELETED", value));
        self.shared.revision.send_replace(revision);
    }

    /// Forgets the history, as etcd's compaction does, and ends every open
    /// watch with `410 Gone`: watchers must list again.
    pub fn expire_watches(&self) {
        let mut store = self.shared.store.lock().unwrap();
        store.oldest = store.revision + 1;
        store.history.clear();
        store.expiries += 1;
        let revision = store.revision;
        drop(store);
        self.shared.revision.send_replace(revision);
    }

    /// Every request so far, as `path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.shared.requests.lock().unwrap().clone()
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        // Drops every task, and waits for it: the listener and each
        // connection are closed when this returns, so the address can be
        // served again at once.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(5));
        }
    }
}

impl Store {
    /// The next revision, written into `object`'s metadata.
    fn next_revision(&mut self, object: &mut Value) -> u64 {
        self.revision += 1;
        object["metadata"]["resourceVersion"] = json!(self.revision.to_string());
        self.revision
    }
}

fn key_of(resource: &str, object: &Value) -> (String, String, String) {
    let text = |field: &str| object["metadata"][field].as_str().unwrap_or_default().to_owned();
    (resource.to_owned(), text("namespace"), text("name"))
}

async fn serve(
    State(shared): State<Arc<Shared>>,
    UrlPath(resource): UrlPath<String>,
    RawQuery(query): RawQuery,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    shared.requests.lock().unwrap().push(format!("/api/v1/{resource}?{}", query.unwrap_or_default()));
    let Some(&(_, kind)) = RESOURCES.iter().find(|(name, _)| *name == resource) else {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("the server could not find the requested resource {resource}"),
        );
    };
    if params.contains_key("fieldSelector") || params.contains_key("labelSelector") {
        return status(StatusCode::BAD_REQUEST, "BadRequest", "selectors are not served by the test API server");
    }
    if params.get("watch").is_some_and(|watch| watch == "true" || watch == "1") {
        watch(shared, resource, kind, &params)
    } else {
        list(&shared, &resource, kind, &params)
    }
}

fn list(shared: &Shared, resource: &str, kind: &str, params: &HashMap<String, String>) -> Response {
    let store = shared.store.lock().unwrap();
    let all: Vec<&Value> =
        store.objects.iter().filter(|((r, _, _), _)| r == resource).map(|(_, object)| object).collect();
    let offset: usize = params.get("continue").map_or(0, |token| token.parse().unwrap());
    let limit: usize = params.get("limit").map_or(all.len(), |limit| limit.parse().unwrap());
    let end = (offset + limit).min(all.len());
    let metadata = ListMeta {
        resource_version: Some(store.revision.to_string()),
        continue_: (end < all.len()).then(|| end.to_string()),
        ..ListMeta::default()
    };
    let body =
        json!({"apiVersion": "v1", "kind": format!("{kind}List"), "metadata": metadata, "items": &all[offset..end]});
    (StatusCode::OK, [("content-type", "application/json")], body.to_string()).into_response()
}

fn watch(shared: Arc<Shared>, resource: String, kind: &'static str, params: &HashMap<String, String>) -> Response {
    let from: u64 = params.get("resourceVersion").and_then(|rv| rv.parse().ok()).unwrap_or(0);
    let timeout = Duration::from_secs(params.get("timeoutSeconds").and_then(|s| s.parse().ok()).unwrap_or(290));
    let bookmarks = params.get("allowWatchBookmarks").is_some_and(|allow| allow == "true");
    let (mut lines, body) = futures::channel::mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut revisions = shared.revision.subscribe();
        let mut cursor = from;
        let expiries = shared.store.lock().unwrap().expiries;
        loop {
            let (events, gone) = {
                let store = shared.store.lock().unwrap();
                let gone = cursor + 1 < store.oldest || store.expiries != expiries;
                let events: Vec<Value> = store
                    .history
                    .iter()
                    .filter(|(revision, r, _, _)| *revision > cursor && *r == resource)
                    .map(|(_, _, type_, object)| json!({"type": type_, "object": object}))
                    .collect();
                cursor = cursor.max(store.revision);
                (events, gone.then(|| (store.oldest, from)))
            };
            if let Some((oldest, from)) = gone {
                let message = format!("too old resource version: {from} ({oldest})");
                let status = Status {
                    code: Some(410),
                    reason: Some("Expired".into()),
                    message: Some(message),
                    status: Some("Failure".into()),
                    ..Status::default()
                };
                let mut object = serde_json::to_value(status).unwrap();
                object["kind"] = json!("Status");
                object["apiVersion"] = json!("v1");
                let _ = lines.send(Ok(line(&json!({"type": "ERROR", "object": object})))).await;
                return;
            }
            for event in events {
                if lines.send(Ok(line(&event))).await.is_err() {
                    return;
                }
            }
            tokio::select! {
                _ = revisions.changed() => {}
                () = tokio::time::sleep(BOOKMARK_EVERY) => {
                    if bookmarks {
                        let bookmark = json!({"type": "BOOKMARK", "object": {"kind": kind, "apiVersion": "v1", "metadata": {"resourceVersion": cursor.to_string()}}});
                        if lines.send(Ok(line(&bookmark))).await.is_err() {
                            return;
                        }
                    }
                }
                () = tokio::time::sleep_until(deadline) => return,
            }
        }
    });
    (StatusCode::OK, [("content-type", "application/json")], Body::from_stream(body)).into_response()
}

fn line(value: &Value) -> Bytes {
    let mut text = value.to_string();
    text.push('\n');
    Bytes::from(text)
}

fn status(code: StatusCode, reason: &str, message: &str) -> Response {
    let status = Status {
        code: Some(i32::from(code.as_u16())),
        reason: Some(reason.into()),
        message: Some(message.into()),
        status: Some("Failure".into()),
        ..Status::default()
    };
    let mut body = serde_json::to_value(status).unwrap();
    body["kind"] = json!("Status");
    body["apiVersion"] = json!("v1");
    (code, [("content-type", "application/json")], body.to_string()).into_response()
}

//! The watches, one per kind, and the task that applies what they tell and
//! publishes the layer.
//!
//! ```text
//! watcher(pods) ─ PodRecord ───────┐
//! watcher(namespaces) ─ Namespace… ┼─▶ Cluster::apply ─▶ (batched) Layer::publish(Cluster::names)
//! watcher(services) ─ Service… ────┤
//! watcher(nodes) ─ NodeRecord ─────┘
//! ```
//!
//! Each watch is kube-rs's `watcher`: a list in pages of [`PAGE`] objects, then a
//! watch from the list's resource version with bookmarks, resumed where it
//! broke and relisted on `410 Gone`, with a backoff on errors ([`backoff`]).
//! (A list from the API server's watch cache, `resourceVersion=0`, would
//! cost the API server less, but kube-rs drops it from paged lists, and one
//! unpaged 10,000-pod response is a large allocation all at once.) Objects
//! are decoded slim ([`super::objects`]) and become records as they arrive;
//! what a list did not name is deleted once it is complete
//! ([`super::cluster`]).
//!
//! Changes are published together, [`BATCH`] after the first of them, so a
//! burst of pod changes costs one merge. The first publish waits until
//! every kind is listed (at most [`FIRST_LIST_WAIT`]), so pods are not
//! first named without their namespace's labels.

use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event, ExponentialBackoff, watcher};
use kube::{Api, Client};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::cluster::{Change, Cluster, Update};
use super::records::{NamespaceRecord, NodeRecord, PodRecord, Record, ServiceRecord};
use super::status::KubernetesStatus;
use crate::shared::Layer;

/// Objects per list page. kube-rs reads a whole page before decoding it,
/// and the four kinds list at once at start-up; 500 nodes of a real cluster
/// (conditions, images) are 3 MB of JSON. Pages of 100 keep that peak a
/// fifth as high, for five times as many (small) list requests.
pub const PAGE: u32 = 100;

/// How long after a change the layer is published, gathering the changes
/// that come meanwhile.
pub const BATCH: Duration = Duration::from_millis(100);
/// The longest the first publish waits for every kind to be listed (10,000
/// pods take about two seconds to list on a small machine).
pub const FIRST_LIST_WAIT: Duration = Duration::from_secs(10);

/// Watches every kind and keeps `layer` and `nodes` current, until the
/// client's runtime stops.
pub async fn run(
    client: Client,
    mut cluster: Cluster,
    layer: Layer,
    nodes: tokio::sync::watch::Sender<Vec<NodeRecord>>,
    status: Arc<KubernetesStatus>,
) {
    let (changes, mut received) = mpsc::channel(64);
    tokio::spawn(watch::<PodRecord>(Api::all(client.clone()), Arc::clone(&status), changes.clone(), Change::Pods));
    let namespaces = Api::all(client.clone());
    tokio::spawn(watch::<NamespaceRecord>(namespaces, Arc::clone(&status), changes.clone(), Change::Namespaces));
    let services = Api::all(client.clone());
    tokio::spawn(watch::<ServiceRecord>(services, Arc::clone(&status), changes.clone(), Change::Services));
    tokio::spawn(watch::<NodeRecord>(Api::all(client), Arc::clone(&status), changes, Change::Nodes));

    let mut first_change: Option<Instant> = None;
    let mut publish_at: Option<Instant> = None;
    let mut synced_once = false;
    loop {
        let expiry = cluster.next_expiry().map(Instant::from_std);
        tokio::select! {
            change = received.recv() => {
                let Some(change) = change else { return };
                let kind = change.kind();
                cluster.apply(change, std::time::Instant::now());
                status.kind(kind).set_objects(cluster.count(kind));
                let now = Instant::now();
                let first = *first_change.get_or_insert(now);
                let wanted = if status.synced() { now + BATCH } else { first + FIRST_LIST_WAIT };
                publish_at = Some(publish_at.map_or(wanted, |at| at.min(wanted)));
            }
            () = sleep_until(publish_at) => {
                let names = cluster.names();
                if !synced_once && status.synced() {
                    let (addresses, services) = (names.endpoints.len(), names.services.len());
                    tracing::info!(addresses, services, "naming flows from Kubernetes");
                    synced_once = true;
                }
                layer.publish(names);
                let now_known = cluster.nodes();
                nodes.send_if_modified(|known| {
                    let changed = *known != now_known;
                    if changed {
                        *known = now_known;
                    }
                    changed
                });
                publish_at = None;
            }
            () = sleep_until(expiry) => {
                if cluster.expire(std::time::Instant::now()) {
                    publish_at.get_or_insert_with(Instant::now);
                }
            }
        }
    }
}

/// Waits between retries: from 0.5 s, doubling, up to 5 s, jittered so a
/// fleet of agents does not come back to the API server all at once; back
/// to 0.5 s after anything works. (kube-rs's default goes up to 30 s and
/// resets only after 120 s without errors: an API server restarted a
/// minute after an outage would be caught up with 30 s late.)
fn backoff() -> ExponentialBackoff {
    let builder = backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(500))
        .with_max_delay(Duration::from_secs(5))
        .with_factor(2.0)
        .with_jitter()
        .without_max_times();
    builder.into()
}

/// Sleeps until `at`, or for ever without one.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Watches one kind, sending its records' updates as `change` makes them,
/// until the receiver is gone.
async fn watch<R: Record>(
    api: Api<R::Object>,
    status: Arc<KubernetesStatus>,
    changes: mpsc::Sender<Change>,
    change: fn(Update<R>) -> Change,
) {
    let kind = R::KIND;
    let state = status.kind(kind);
    let mut events = pin!(watcher(api, watcher::Config::default().page_size(PAGE)).backoff(backoff()));
    let mut listed = 0;
    while let Some(event) = events.next().await {
        let update = match event {
            Ok(Event::Init) => {
                listed = 0;
                Update::Listing
            }
            Ok(Event::InitApply(object)) => {
                listed += 1;
                Update::Applied(R::from_object(&object))
            }
            Ok(Event::InitDone) => {
                state.was_listed(kind, listed);
                Update::Listed
            }
            Ok(Event::Apply(object)) => Update::Applied(R::from_object(&object)),
            Ok(Event::Delete(object)) => Update::Deleted(R::from_object(&object)),
            Err(error) => {
                state.failed(kind, &error);
                continue;
            }
        };
        // A list starts before its first request: only what comes after
        // it shows that the API server answers.
        if !matches!(update, Update::Listing) {
            state.recovered(kind);
            state.event();
        }
        if changes.send(change(update)).await.is_err() {
            return;
        }
    }
}

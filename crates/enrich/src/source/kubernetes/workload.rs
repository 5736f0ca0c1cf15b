//! A pod's workload, from its controller, the way Cilium derives it
//! (`pkg/k8s/utils/workload.go`, `GetWorkloadMetaFromPod`, taken from
//! Istio):
//!
//! - a pod without `generateName`, or without an owner reference marked
//!   `controller`, has none (a bare pod);
//! - a ReplicaSet whose name ends in `-<pod-template-hash>` (the pod's
//!   label) is its Deployment, named without that suffix;
//! - a Job whose name ends in `-` and 8 to 10 digits (the schedule time a
//!   CronJob appends) is that CronJob;
//! - a ReplicationController with a `deploymentconfig` label is that
//!   OpenShift DeploymentConfig;
//! - any other controller is itself: StatefulSet, DaemonSet, Job, ….

use std::sync::LazyLock;

use flowlog_flow::Workload;
use regex::Regex;

use super::objects::Pod;

static CRON_JOB_NAME: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^(.+)-\d{8,10}$").expect("a valid regex"));

/// The workload of `pod`, if it has one.
pub fn workload_of(pod: &Pod) -> Option<Workload> {
    let metadata = &pod.metadata;
    metadata.generate_name.as_deref().filter(|name| !name.is_empty())?;
    let owner = metadata.owner_references.as_ref()?.iter().find(|owner| owner.controller == Some(true))?;
    let label = |key: &str| metadata.labels.as_ref().and_then(|labels| labels.get(key)).filter(|v| !v.is_empty());
    let (kind, name) = match owner.kind.as_str() {
        "ReplicaSet" => match label("pod-template-hash") {
            Some(hash) if owner.name.ends_with(hash.as_str()) => {
                ("Deployment", owner.name.strip_suffix(&format!("-{hash}")).unwrap_or(&owner.name))
            }
            _ => ("ReplicaSet", owner.name.as_str()),
        },
        "ReplicationController" => match label("deploymentconfig") {
            Some(config) => ("DeploymentConfig", config.as_str()),
            None => ("ReplicationController", owner.name.as_str()),
        },
        "Job" => match CRON_JOB_NAME.captures(&owner.name).and_then(|found| found.get(1)) {
            Some(cron_job) => ("CronJob", cron_job.as_str()),
            None => ("Job", owner.name.as_str()),
        },
        other => (other, owner.name.as_str()),
    };
    Some(Workload { name: name.to_owned(), kind: kind.to_owned() })
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

    use super::*;
    use crate::fixtures::decode;

    fn pod(generate_name: &str, owner: Option<(&str, &str)>, labels: &[(&str, &str)]) -> Pod {
        let owner_references = owner.map(|(kind, name)| {
            vec![OwnerReference { kind: kind.into(), name: name.into(), controller: Some(true), ..Default::default() }]
        });
        decode(&k8s_openapi::api::core::v1::Pod {
            metadata: ObjectMeta {
                generate_name: Some(generate_name.into()).filter(|name: &String| !name.is_empty()),
                owner_references,
                labels: Some(labels.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect()),
                ..Default::default()
            },
            ..Default::default()
        })
    }

    fn workload(kind: &str, name: &str) -> Option<Workload> {
        Some(Workload { name: name.into(), kind: kind.into() })
    }

    /// The cases of Cilium's `TestGetWorkloadMetaFromPod`
    /// (`pkg/k8s/utils/workload_test.go`).
    #[test]
    fn cilium_workload_cases() {
        let cases = [
            (
                pod("deploy-12345-", Some(("ReplicaSet", "deploy-12345")), &[("pod-template-hash", "12345")]),
                workload("Deployment", "deploy"),
            ),
            (
                pod("deploy2-45678-", Some(("ReplicaSet", "deploy2-45678")), &[("pod-template-hash", "45678")]),
                workload("Deployment", "deploy2"),
            ),
            (pod("replicaset0-", Some(("ReplicaSet", "replicaset0")), &[]), workload("ReplicaSet", "replicaset0")),
            (pod("", None, &[]), None),
            (pod("sec-1234567890-", Some(("Job", "sec-1234567890")), &[]), workload("CronJob", "sec")),
            (pod("min-12345678-", Some(("Job", "min-12345678")), &[]), workload("CronJob", "min")),
            (pod("job-123-", Some(("Job", "job-123")), &[]), workload("Job", "job-123")),
            (pod("foo-", Some(("StatefulSet", "foo")), &[]), workload("StatefulSet", "foo")),
            (
                pod("deploy-rc-", Some(("ReplicationController", "deploy-rc")), &[("deploymentconfig", "deploy")]),
                workload("DeploymentConfig", "deploy"),
            ),
            (
                pod("dep-rc-", Some(("ReplicationController", "dep-rc")), &[]),
                workload("ReplicationController", "dep-rc"),
            ),
        ];
        for (pod, expected) in cases {
            assert_eq!(workload_of(&pod), expected, "{:?}", pod.metadata.owner_references);
        }
    }

    #[test]
    fn only_the_controller_counts() {
        let mut pod = pod("web-", Some(("DaemonSet", "web")), &[]);
        pod.metadata.owner_references.as_mut().unwrap()[0].controller = Some(false);
        assert_eq!(workload_of(&pod), None);
    }
}

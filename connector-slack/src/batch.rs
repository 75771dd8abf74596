//! A batch (`provision`): the user records first, concurrently, then the group records, whose members
//! are resolved from the users' results.

use crate::client::DEADLINE;
use crate::matching;
use crate::Connection;
use connector_abi::payload::*;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tokio::time::Instant;

/// Why a batch stopped before every record finished.
#[derive(Debug, Clone, Copy)]
enum Stop {
    /// The request's `deadline_ms` passed.
    Deadline,
    /// The host called `cancel`.
    Cancelled,
}

impl Stop {
    fn error(self) -> ErrorInfo {
        match self {
            Stop::Deadline => ErrorInfo::new(
                ErrorKind::Timeout,
                "the record did not finish before the call's deadline (the channel's timeout_seconds); it will be retried",
            )
            .retryable(),
            Stop::Cancelled => {
                ErrorInfo::new(ErrorKind::Other, "cancelled by the host before the record finished; it will be retried")
                    .retryable()
            }
        }
    }
}

/// Resolves when the deadline passes or the host cancels, whichever comes first.
async fn stop_signal(deadline: Option<Instant>, mut cancel: tokio::sync::watch::Receiver<u64>) -> Stop {
    let deadline = async {
        match deadline {
            Some(d) => tokio::time::sleep_until(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = deadline => Stop::Deadline,
        _ = cancel.changed() => Stop::Cancelled,
    }
}

impl Connection {
    /// The results of `tasks` as they finish; when `stop` resolves first (and nothing stopped the batch
    /// before), the rest are aborted and `stopped` says why.
    async fn join_until_stopped(
        &self,
        tasks: &mut tokio::task::JoinSet<(usize, RecordResult)>,
        mut stop: std::pin::Pin<&mut impl std::future::Future<Output = Stop>>,
        stopped: &mut Option<Stop>,
        what: &str,
    ) -> Vec<(usize, RecordResult)> {
        let mut out = Vec::with_capacity(tasks.len());
        loop {
            let joined = tokio::select! {
                j = tasks.join_next() => j,
                s = &mut stop, if stopped.is_none() => {
                    *stopped = Some(s);
                    tasks.abort_all();
                    None
                }
            };
            match joined {
                None => return out,
                Some(Ok(done)) => out.push(done),
                Some(Err(e)) if e.is_cancelled() => {}
                Some(Err(e)) => self.log.error(&format!("a {what} record task failed: {e}")),
            }
        }
    }

    /// Applies a batch; one result per record, in order. Records not finished when the deadline passes
    /// or the host cancels come back failed and retryable (their tasks are aborted: nothing more is
    /// sent for them).
    pub async fn provision(self: &Arc<Self>, request: ProvisionRequest) -> Vec<RecordResult> {
        let deadline = request.deadline_ms.map(|ms| Instant::now() + std::time::Duration::from_millis(ms));
        let stop = stop_signal(deadline, self.cancel.subscribe());
        tokio::pin!(stop);
        let mut stopped: Option<Stop> = None;
        let records = request.records;
        let mut results: Vec<Option<RecordResult>> = vec![None; records.len()];

        // Match keys of the user records that carry no target id, so one list read can serve them all.
        let keys: HashSet<String> = records
            .iter()
            .filter(|r| r.object_class == ObjectClass::User && r.target_id.is_none())
            .filter_map(|r| matching::key_of(&r.attributes, self.settings.unique_identifier))
            .collect();
        let prepared = tokio::select! {
            r = DEADLINE.scope(deadline, matching::prepare(&self.client, &self.index, self.settings.unique_identifier, &keys)) => r,
            s = &mut stop => {
                stopped = Some(s);
                Ok(())
            }
        };
        if let Err(e) = prepared {
            self.log.warn(&format!(
                "could not read Slack's user list for matching; looking users up one by one: {}",
                e.to_error_info()
            ));
        }

        let mut users = tokio::task::JoinSet::new();
        for (i, r) in records.iter().enumerate().filter(|_| stopped.is_none()) {
            if r.object_class == ObjectClass::User {
                let (conn, r) = (Arc::clone(self), r.clone());
                users.spawn(DEADLINE.scope(deadline, async move { (i, conn.user_record(&r).await) }));
            }
        }
        let mut member_ids: HashMap<String, String> = HashMap::new();
        for (i, res) in self.join_until_stopped(&mut users, stop.as_mut(), &mut stopped, "user").await {
            if let (Some(t), Outcome::Created | Outcome::Updated | Outcome::Unchanged | Outcome::Reactivated) =
                (&res.target_id, res.outcome)
            {
                member_ids.insert(res.source_id.clone(), t.clone());
            }
            results[i] = Some(res);
        }
        let member_ids = Arc::new(member_ids);
        let mut groups = tokio::task::JoinSet::new();
        for (i, r) in records.iter().enumerate().filter(|_| stopped.is_none()) {
            if r.object_class == ObjectClass::Group {
                let (conn, r, m) = (Arc::clone(self), r.clone(), Arc::clone(&member_ids));
                groups.spawn(DEADLINE.scope(deadline, async move { (i, conn.group_record(&r, &m).await) }));
            }
        }
        for (i, res) in self.join_until_stopped(&mut groups, stop.as_mut(), &mut stopped, "group").await {
            results[i] = Some(res);
        }
        if let Some(s) = stopped {
            let done = results.iter().filter(|r| r.is_some()).count();
            self.log.warn(&format!("batch stopped ({s:?}) with {done} of {} records finished", records.len()));
        }
        records
            .iter()
            .zip(results)
            .map(|(r, res)| {
                res.unwrap_or_else(|| {
                    let error = match stopped {
                        Some(s) => s.error(),
                        None => ErrorInfo::new(ErrorKind::Other, "the record's task did not finish").retryable(),
                    };
                    RecordResult::failed(r, error)
                })
            })
            .collect()
    }
}

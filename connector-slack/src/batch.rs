//! A batch (`provision`): the user records first, concurrently, then the group records, whose members
//! are resolved from the users' results.

use crate::matching;
use crate::Connection;
use connector_abi::payload::*;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

impl Connection {
    /// Applies a batch; one result per record, in order.
    pub async fn provision(self: &Arc<Self>, request: ProvisionRequest) -> Vec<RecordResult> {
        let records = request.records;
        let mut results: Vec<Option<RecordResult>> = vec![None; records.len()];

        // Match keys of the user records that carry no target id, so one list read can serve them all.
        let keys: HashSet<String> = records
            .iter()
            .filter(|r| r.object_class == ObjectClass::User && r.target_id.is_none())
            .filter_map(|r| matching::key_of(&r.attributes, self.settings.unique_identifier))
            .collect();
        if let Err(e) = matching::prepare(&self.client, &self.index, self.settings.unique_identifier, &keys).await {
            self.log.warn(&format!(
                "could not read Slack's user list for matching; looking users up one by one: {}",
                e.to_error_info()
            ));
        }

        let mut users = tokio::task::JoinSet::new();
        for (i, r) in records.iter().enumerate() {
            if r.object_class == ObjectClass::User {
                let (conn, r) = (Arc::clone(self), r.clone());
                users.spawn(async move { (i, conn.user_record(&r).await) });
            }
        }
        let mut member_ids: HashMap<String, String> = HashMap::new();
        while let Some(joined) = users.join_next().await {
            match joined {
                Ok((i, res)) => {
                    if let (Some(t), Outcome::Created | Outcome::Updated | Outcome::Unchanged | Outcome::Reactivated) =
                        (&res.target_id, res.outcome)
                    {
                        member_ids.insert(res.source_id.clone(), t.clone());
                    }
                    results[i] = Some(res);
                }
                Err(e) => self.log.error(&format!("a user record task failed: {e}")),
            }
        }
        let member_ids = Arc::new(member_ids);
        let mut groups = tokio::task::JoinSet::new();
        for (i, r) in records.iter().enumerate() {
            if r.object_class == ObjectClass::Group {
                let (conn, r, m) = (Arc::clone(self), r.clone(), Arc::clone(&member_ids));
                groups.spawn(async move { (i, conn.group_record(&r, &m).await) });
            }
        }
        while let Some(joined) = groups.join_next().await {
            match joined {
                Ok((i, res)) => results[i] = Some(res),
                Err(e) => self.log.error(&format!("a group record task failed: {e}")),
            }
        }
        records
            .iter()
            .zip(results)
            .map(|(r, res)| {
                res.unwrap_or_else(|| {
                    RecordResult::failed(
                        r,
                        ErrorInfo::new(ErrorKind::Other, "the record's task did not finish").retryable(),
                    )
                })
            })
            .collect()
    }
}

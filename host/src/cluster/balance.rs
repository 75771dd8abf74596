//! Which connections a node of a cluster should hold: an even share (the ceiling of connections over
//! live nodes), preferring the connections that rank it highest by rendezvous hashing, so nodes reach
//! for different connections and a node that comes back gets much the same ones.

use sha2::{Digest, Sha256};

/// The rendezvous score of `node` for `lease` (higher: more preferred).
pub fn score(node: &str, lease: &str) -> u64 {
    let d = Sha256::digest(format!("{node}\n{lease}").as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    u64::from_be_bytes(b)
}

/// How many of `leases` each of `live_nodes` nodes should hold (at least 1 node counted).
pub fn quota(leases: usize, live_nodes: usize) -> usize {
    leases.div_ceil(live_nodes.max(1))
}

/// `names` ordered from the most to the least preferred by `node`.
pub fn by_preference<'a>(node: &str, names: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut v: Vec<&str> = names.into_iter().collect();
    v.sort_by_key(|n| std::cmp::Reverse(score(node, n)));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_cover_every_connection() {
        assert_eq!(quota(9, 3), 3);
        assert_eq!(quota(9, 2), 5);
        assert_eq!(quota(60, 3), 20);
        assert_eq!(quota(60, 2), 30);
        assert_eq!(quota(1, 3), 1);
        assert_eq!(quota(4, 0), 4);
        for c in 0..100 {
            for n in 1..10 {
                assert!(quota(c, n) * n >= c);
            }
        }
    }

    /// Greedy acquisition by preference with the quota gives every connection an owner and no node
    /// more than its quota, whatever order the nodes act in.
    #[test]
    fn greedy_acquisition_by_preference_is_even() {
        let leases: Vec<String> = (0..60).map(|i| format!("connection:c{i}")).collect();
        let nodes = ["n1", "n2", "n3"];
        let mut owner: std::collections::HashMap<&str, &str> = Default::default();
        let q = quota(leases.len(), nodes.len());
        for round in 0..q {
            for (k, n) in nodes.iter().enumerate() {
                let node = nodes[(k + round) % nodes.len()];
                let _ = n;
                let held = owner.values().filter(|o| **o == node).count();
                if held >= q {
                    continue;
                }
                if let Some(free) =
                    by_preference(node, leases.iter().map(String::as_str)).into_iter().find(|l| !owner.contains_key(l))
                {
                    owner.insert(free, node);
                }
            }
        }
        assert_eq!(owner.len(), 60);
        for n in nodes {
            assert_eq!(owner.values().filter(|o| **o == n).count(), 20);
        }
    }
}

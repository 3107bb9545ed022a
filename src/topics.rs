//! Topics: which connections subscribed to which byte-string names. A plain registry with no
//! I/O, generic over the connection handle (like `event`); the app sends what is published.

use std::collections::HashMap;

use crate::error::{Error, Result};

/// The longest topic name, in bytes: enough for "room:" and a UUID many times over, small
/// enough that a name read from a peer cannot make the registry large.
pub(crate) const MAX_TOPIC_LEN: usize = 256;

/// Checks a topic name: any bytes, at most `MAX_TOPIC_LEN` of them.
pub(crate) fn check_topic(topic: &[u8]) -> Result<()> {
    if topic.len() > MAX_TOPIC_LEN {
        return Err(Error::invalid(format!(
            "topic is {} bytes long; the limit is {MAX_TOPIC_LEN}",
            topic.len()
        )));
    }
    Ok(())
}

/// Topic → subscribers, and connection → topics. Host threads only, like the app's
/// connection map.
pub(crate) struct Topics<H> {
    /// The subscribers of every topic that has at least one, by connection id.
    subscribers: HashMap<Box<[u8]>, HashMap<u64, H>>,
    /// Each subscribed connection's topics, in the order it subscribed. The names are boxed
    /// so their bytes stay put while the list changes around them.
    by_conn: HashMap<u64, Vec<Box<[u8]>>>,
}

impl<H> Default for Topics<H> {
    fn default() -> Self {
        Topics {
            subscribers: HashMap::new(),
            by_conn: HashMap::new(),
        }
    }
}

impl<H> Topics<H> {
    /// Subscribes connection `id` (handle `conn`) to `topic`; `false` if it already was.
    pub fn subscribe(&mut self, id: u64, conn: H, topic: &[u8]) -> Result<bool> {
        check_topic(topic)?;
        let members = match self.subscribers.get_mut(topic) {
            Some(members) => members,
            None => self.subscribers.entry(topic.into()).or_default(),
        };
        if members.contains_key(&id) {
            return Ok(false);
        }
        members.insert(id, conn);
        self.by_conn.entry(id).or_default().push(topic.into());
        Ok(true)
    }

    /// Unsubscribes connection `id` from `topic`; `false` if it was not subscribed.
    pub fn unsubscribe(&mut self, id: u64, topic: &[u8]) -> Result<bool> {
        check_topic(topic)?;
        let Some(members) = self.subscribers.get_mut(topic) else {
            return Ok(false);
        };
        if members.remove(&id).is_none() {
            return Ok(false);
        }
        if members.is_empty() {
            self.subscribers.remove(topic);
        }
        if let Some(list) = self.by_conn.get_mut(&id) {
            list.retain(|t| **t != *topic);
            if list.is_empty() {
                self.by_conn.remove(&id);
            }
        }
        Ok(true)
    }

    /// Ends every subscription of connection `id` (it closed); shows each topic left with
    /// no subscriber to `emptied`.
    pub fn forget(&mut self, id: u64, mut emptied: impl FnMut(&[u8])) {
        let Some(list) = self.by_conn.remove(&id) else {
            return;
        };
        for topic in list {
            if let Some(members) = self.subscribers.get_mut(&topic) {
                members.remove(&id);
                if members.is_empty() {
                    self.subscribers.remove(&topic);
                    emptied(&topic);
                }
            }
        }
    }

    /// How many connections subscribed to `topic`.
    pub fn count(&self, topic: &[u8]) -> usize {
        self.subscribers.get(topic).map_or(0, HashMap::len)
    }

    /// Connection `id`'s topics, in the order it subscribed.
    pub fn subscriptions(&self, id: u64) -> &[Box<[u8]>] {
        self.by_conn.get(&id).map_or(&[], Vec::as_slice)
    }

    /// The subscribers of `topic` (none for an unknown topic), in no particular order.
    /// Points connection `id`'s subscriptions at a new handle (a resumed session's new
    /// connection).
    pub fn rebind(&mut self, id: u64, handle: &H)
    where
        H: Clone,
    {
        let Some(list) = self.by_conn.get(&id) else {
            return;
        };
        for topic in list {
            if let Some(members) = self.subscribers.get_mut(topic) {
                members.insert(id, handle.clone());
            }
        }
    }

    pub fn subscribers(&self, topic: &[u8]) -> impl Iterator<Item = (u64, &H)> {
        self.subscribers
            .get(topic)
            .into_iter()
            .flat_map(|members| members.iter().map(|(id, conn)| (*id, conn)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(topics: &Topics<()>, topic: &[u8]) -> Vec<u64> {
        let mut ids: Vec<u64> = topics.subscribers(topic).map(|(id, _)| id).collect();
        ids.sort_unstable();
        ids
    }

    #[test]
    fn subscribe_and_unsubscribe_say_whether_they_changed_anything() {
        let mut t = Topics::default();
        assert!(t.subscribe(1, (), b"room").unwrap());
        assert!(!t.subscribe(1, (), b"room").unwrap());
        assert!(t.subscribe(2, (), b"room").unwrap());
        assert_eq!(ids(&t, b"room"), [1, 2]);
        assert!(t.unsubscribe(1, b"room").unwrap());
        assert!(!t.unsubscribe(1, b"room").unwrap());
        assert!(!t.unsubscribe(1, b"nowhere").unwrap());
        assert_eq!(ids(&t, b"room"), [2]);
        assert!(t.unsubscribe(2, b"room").unwrap());
        assert!(t.subscribers.is_empty() && t.by_conn.is_empty());
    }

    #[test]
    fn subscriptions_keep_their_order_and_end_with_the_connection() {
        let mut t = Topics::default();
        for topic in [&b"a"[..], b"", b"\xff\x00", b"c"] {
            t.subscribe(7, (), topic).unwrap();
        }
        t.subscribe(8, (), b"a").unwrap();
        t.unsubscribe(7, b"").unwrap();
        let names: Vec<&[u8]> = t.subscriptions(7).iter().map(|b| &**b).collect();
        assert_eq!(names, [&b"a"[..], b"\xff\x00", b"c"]);
        let mut emptied = Vec::new();
        t.forget(7, |topic| emptied.push(topic.to_vec()));
        emptied.sort();
        assert_eq!(emptied, [b"c".to_vec(), b"\xff\x00".to_vec()]);
        assert!(t.subscriptions(7).is_empty());
        assert_eq!(ids(&t, b"a"), [8]);
        assert_eq!(ids(&t, b"c"), Vec::<u64>::new());
        assert_eq!(t.subscribers.len(), 1);
        assert_eq!((t.count(b"a"), t.count(b"c")), (1, 0));
        t.forget(7, |_| panic!("nothing left to empty"));
    }

    #[test]
    fn topic_names_are_limited() {
        let mut t = Topics::default();
        let longest = vec![b'x'; MAX_TOPIC_LEN];
        assert!(t.subscribe(1, (), &longest).unwrap());
        let long = vec![b'x'; MAX_TOPIC_LEN + 1];
        assert!(t.subscribe(1, (), &long).is_err());
        assert!(t.unsubscribe(1, &long).is_err());
        assert!(check_topic(&long).is_err());
    }
}

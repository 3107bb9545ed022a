//! One message to many connections: broadcasts (to all, or one subprotocol group), topics
//! (subscriptions and publish), and the messages other nodes of a cluster sent. Each is
//! encoded once (`Broadcast`) and shared by every recipient's send queue.

use std::sync::Arc;

use super::conn_table::not_open;
use super::sessions::Kept;
use super::{App, Role};
use crate::cluster::Target;
use crate::conn::Conn;
use crate::error::{Error, Result};
use crate::event::{Audience, Opcode};
use crate::send_budget;
use crate::send_path::Broadcast;
use crate::topics;

impl App {
    /// Queues one shared copy of `data` for every open connection, or only those of one
    /// subprotocol group (`""` = the default handler's). In a cluster, the other nodes'
    /// connections (of the group of the same name) get it too. Returns how many local
    /// connections accepted it.
    pub fn broadcast(&self, data: &[u8], opcode: u32, group: Option<&str>) -> Result<usize> {
        let name_of_group = group.unwrap_or("");
        let group = self.group_id(group)?;
        let opcode = Opcode::try_from(opcode)?;
        // Refused before the copy: the message may be huge.
        send_budget::check_size(data.len(), self.max_send_queue)?;
        let message = Broadcast::new(data, opcode)?;
        let accepted = self.broadcast_local(&message, group);
        if let Some(cluster) = &self.cluster {
            let target = match group {
                Some(_) => Target::Group(name_of_group),
                None => Target::Everyone,
            };
            cluster.publish(target, opcode, data);
        }
        Ok(accepted)
    }

    /// The group of subprotocol `name`, when one is named.
    fn group_id(&self, name: Option<&str>) -> Result<Option<u32>> {
        match (name, &self.role) {
            (Some(name), Role::Server(server)) => {
                Ok(Some(server.group_of(name).ok_or_else(|| {
                    Error::invalid(format!("the app serves no subprotocol named '{name}'"))
                })?))
            }
            (Some(_), Role::Client(_)) => {
                Err(Error::invalid("a client app has no subprotocol groups"))
            }
            (None, _) => Ok(None),
        }
    }

    /// Hands `message` to every open connection (of `group` only, if given); returns how
    /// many accepted it.
    fn broadcast_local(&self, message: &Broadcast, group: Option<u32>) -> usize {
        let conns = self.conns.lock();
        let recipients = conns
            .iter()
            .filter(|(_, c)| group.is_none_or(|g| c.group == g));
        let mut accepted = 0;
        for (&id, conn) in recipients {
            accepted += usize::from(self.deliver(id, conn, message));
        }
        accepted
    }

    /// Hands `message` to connection `id` (kept for its client when it carries a session,
    /// and only kept while the session is paused); whether it was accepted.
    fn deliver(&self, id: u64, conn: &Arc<Conn>, message: &Broadcast) -> bool {
        let kept = self.keep(id, message.opcode(), message.payload());
        let sent = match kept {
            Kept::Paused => Ok(()),
            Kept::Live | Kept::No => self.batch.send_broadcast(&conn.path, message),
        };
        let sent = kept.despite_a_drop(sent);
        self.count_sent(&sent, message.len());
        sent.is_ok()
    }

    /// Delivers a message another node sent to the local connections it is for.
    pub(super) fn deliver_remote(&self, audience: &Audience, opcode: Opcode, data: &[u8]) {
        // Another node checked it already; a node of another version might not have.
        let Ok(message) = Broadcast::new(data, opcode) else {
            return;
        };
        match (audience, &self.role) {
            (Audience::Topic(topic), _) => {
                self.publish_local(topic, &message, None);
            }
            (Audience::Everyone, _) => {
                self.broadcast_local(&message, None);
            }
            (Audience::Group(name), Role::Server(server)) => {
                if let Some(group) = server.group_of(name) {
                    self.broadcast_local(&message, Some(group));
                }
            }
            (Audience::Group(_), Role::Client(_)) => {}
        }
    }

    /// Tells the cluster (if any) that `topic` lost its last local subscriber.
    pub(super) fn unwatch(&self, topic: &[u8]) {
        if let Some(cluster) = &self.cluster {
            cluster.unwatch(topic);
        }
    }

    /// Topics belong to server apps.
    fn check_server(&self) -> Result<()> {
        match &self.role {
            Role::Server(_) => Ok(()),
            Role::Client(_) => Err(Error::invalid("a client app has no topics")),
        }
    }

    /// Subscribes open connection `id` to `topic`; `false` if it already was. The
    /// subscription ends with the poll that reports the connection's CLOSE.
    pub fn subscribe(&self, id: u64, topic: &[u8]) -> Result<bool> {
        self.check_server()?;
        topics::check_topic(topic)?;
        // Under the map's lock, so a CLOSE polled on another thread cannot slip in between.
        let conns = self.conns.lock();
        let conn = conns.get(&id).ok_or_else(|| not_open(id))?;
        let mut topics = self.topics.lock();
        let changed = topics.subscribe(id, conn.clone(), topic)?;
        if let (true, Some(cluster)) = (changed && topics.count(topic) == 1, &self.cluster) {
            cluster.watch(topic);
        }
        Ok(changed)
    }

    /// Unsubscribes open connection `id` from `topic`; `false` if it was not subscribed.
    pub fn unsubscribe(&self, id: u64, topic: &[u8]) -> Result<bool> {
        self.check_server()?;
        topics::check_topic(topic)?;
        let conns = self.conns.lock();
        if !conns.contains_key(&id) {
            return Err(not_open(id));
        }
        let mut topics = self.topics.lock();
        let changed = topics.unsubscribe(id, topic)?;
        if changed && topics.count(topic) == 0 {
            self.unwatch(topic);
        }
        Ok(changed)
    }

    /// Shows open connection `id`'s topics, in the order it subscribed, to `visit`.
    pub fn with_subscriptions<R>(
        &self,
        id: u64,
        visit: impl FnOnce(&[Box<[u8]>]) -> R,
    ) -> Result<R> {
        self.check_server()?;
        let conns = self.conns.lock();
        if !conns.contains_key(&id) {
            return Err(not_open(id));
        }
        Ok(visit(self.topics.lock().subscriptions(id)))
    }

    /// Queues one shared copy of `data` for every subscriber of `topic` but `except` (an
    /// open connection), and in a cluster every other node's subscribers. Returns how many
    /// local connections accepted it.
    pub fn publish(
        &self,
        topic: &[u8],
        data: &[u8],
        opcode: u32,
        except: Option<u64>,
    ) -> Result<usize> {
        self.check_server()?;
        topics::check_topic(topic)?;
        let opcode = Opcode::try_from(opcode)?;
        // Refused before the copy: the message may be huge.
        send_budget::check_size(data.len(), self.max_send_queue)?;
        let message = Broadcast::new(data, opcode)?;
        if let Some(id) = except {
            self.conn(id)?;
        }
        let accepted = self.publish_local(topic, &message, except);
        if let Some(cluster) = &self.cluster {
            cluster.publish(Target::Topic(topic), opcode, data);
        }
        Ok(accepted)
    }

    /// Hands `message` to every local subscriber of `topic` but `except`; returns how many
    /// accepted it.
    fn publish_local(&self, topic: &[u8], message: &Broadcast, except: Option<u64>) -> usize {
        let topics = self.topics.lock();
        let mut accepted = 0;
        for (id, conn) in topics.subscribers(topic) {
            if Some(id) != except {
                accepted += usize::from(self.deliver(id, conn, message));
            }
        }
        accepted
    }
}

//! Subscribers and flushing: subscriptions (capped or not), the snapshots held in a
//! warm-up, and the coalesced diff and snapshots a changed channel sends within its
//! fan-out budget.

use super::*;

impl Roster {
    /// Watch `ch`: a snapshot at the next flush, then every diff. Subscribing again asks
    /// for a fresh snapshot (what a client does after a gap in `seq`).
    pub fn subscribe(&mut self, now: Instant, conn: ConnId, ch: &str, access: Access) -> Result<(), ErrorCode> {
        self.subscribe_following(now, conn, ch, access, &[])
    }

    /// Watch `ch`, and in a capped list also follow `friends` (besides itself): they are
    /// sent to this subscriber wherever they are in the list. The first
    /// [`MAX_FRIENDS`] count.
    pub fn subscribe_following(
        &mut self,
        now: Instant,
        conn: ConnId,
        ch: &str,
        access: Access,
        friends: &[String],
    ) -> Result<(), ErrorCode> {
        validate_name(ch)?;
        if !access.view {
            return Err(ErrorCode::ForbiddenView);
        }
        let c = self.conns.get(&conn).ok_or(ErrorCode::HelloFirst)?;
        let counted = c.subscriptions.contains(ch) || self.clients[&c.client].channels.contains_key(ch);
        if !counted && self.channels_in_use(conn) >= self.config.max_channels {
            return Err(ErrorCode::TooManyChannels);
        }
        self.touch(now, conn, true);
        self.conns
            .get_mut(&conn)
            .expect("checked above")
            .subscriptions
            .insert(ch.to_string());
        let user = self.conns[&conn].client.user.clone();
        let hold = self.conns[&conn].resuming && self.held_until(now).is_some();
        let channel = self.channel_mut(now, ch, access.count_only, false);
        channel.cap_list(access.list_cap);
        channel.subscribers.remove(&conn);
        if hold {
            channel.held.insert(conn);
        } else {
            channel.awaiting.insert(conn);
        }
        if let Some(list) = &mut channel.list {
            let mut follows = vec![user];
            for friend in friends.iter().take(MAX_FRIENDS) {
                if !follows.contains(friend) {
                    follows.push(friend.clone());
                }
            }
            list.follow(conn, follows);
        }
        Ok(())
    }

    /// This relay has just started without the state it had (a restart, a deploy):
    /// every client it had is coming back at once. Until `until` (the reconnect grace,
    /// after which whoever has not come back has left anyway), the snapshots of
    /// returning clients (see [`resuming`](Self::resuming)) wait until no returning
    /// client has said hello for [`WARM_SETTLE_MS`]: a page that had a full list keeps
    /// it, and then sees only who really left, instead of a channel that empties and
    /// fills again. A newcomer, who had no list, is answered at once.
    pub fn warm_up(&mut self, until: Instant) {
        self.warm_until = until;
    }

    /// `conn`'s client had a connection before this one (`hello.resume`).
    pub fn resuming(&mut self, now: Instant, conn: ConnId) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.resuming = true;
            self.last_return = self.last_return.max(now);
        }
    }

    /// While returning clients' snapshots wait: until when, at the latest.
    pub(super) fn held_until(&self, now: Instant) -> Option<Instant> {
        let settled = self.last_return + WARM_SETTLE_MS;
        (now < self.warm_until && now < settled).then(|| settled.min(self.warm_until))
    }

    pub fn unsubscribe(&mut self, now: Instant, conn: ConnId, ch: &str) -> Result<(), ErrorCode> {
        validate_name(ch)?;
        let c = self.conns.get_mut(&conn).ok_or(ErrorCode::HelloFirst)?;
        c.subscriptions.remove(ch);
        self.touch(now, conn, true);
        self.drop_subscriber(ch, conn);
        Ok(())
    }

    pub(super) fn drop_subscriber(&mut self, ch: &str, conn: ConnId) {
        if let Some(channel) = self.channels.get_mut(ch) {
            channel.subscribers.remove(&conn);
            channel.awaiting.remove(&conn);
            channel.held.remove(&conn);
            if let Some(list) = &mut channel.list {
                list.unfollow(conn);
            }
            if channel.is_idle() {
                self.channels.remove(ch);
            }
        }
    }

    /// The channel, made if needed, marked to flush for a member `change` or (`false`)
    /// for a newcomer's snapshot.
    pub(super) fn channel_mut(&mut self, now: Instant, ch: &str, count_only: bool, change: bool) -> &mut Channel {
        self.channels.entry(ch.to_string()).or_default().count_only = count_only;
        self.mark_dirty(now, ch, change);
        self.channels.get_mut(ch).expect("just made")
    }

    /// Schedule the channel's next flush, for a member `change` or (`false`) for a
    /// newcomer's snapshot.
    pub(super) fn mark_dirty(&mut self, now: Instant, ch: &str, change: bool) {
        let Some(channel) = self.channels.get_mut(ch) else {
            return;
        };
        // Leading edge: a lone change goes out at once; only changes that follow within
        // the channel's interval wait, together. (A flush set later, for snapshots held
        // in a warm-up, is brought forward.)
        // The interval follows the channel's size wherever its members are connected, not
        // only this relay's watchers: a channel everyone watches then flushes at one
        // cadence on every relay, and all the relays together stay within the budget
        // (six relays of 16,700 watchers each would otherwise each send theirs).
        // A change waits for the last diff, a snapshot for the last flush: a page that
        // subscribes and then enters has its snapshot sent at once, and its own join
        // must not then wait a whole interval (a second in a channel of 50,000) for
        // the flush that served it.
        let watchers = channel.subscribers.len() + channel.awaiting.len();
        let interval = self.config.flush_interval_for(watchers.max(channel.members.len()));
        let last = if change { channel.last_diff } else { channel.last_flush };
        let at = last.map_or(now, |last| last + interval).max(now);
        if channel.flush_at.is_none_or(|set| at < set) {
            channel.flush_at = Some(at);
            self.flushes.push(Reverse((at, ch.to_string())));
        }
    }

    /// One diff for the channel's subscribers, then one snapshot for those who
    /// subscribed since the last flush.
    pub(super) fn flush(&mut self, now: Instant, due: Instant, ch: String) {
        let release = self.held_until(now);
        {
            // An entry left by a channel that was dropped and made again is stale.
            let Some(channel) = self.channels.get_mut(&ch).filter(|c| c.flush_at == Some(due)) else {
                return;
            };
            channel.flush_at = None;
            channel.last_flush = Some(now);
            let pending = std::mem::take(&mut channel.pending);
            let ended = std::mem::take(&mut channel.ended);
            let count = channel.members.len();
            let (mut join, mut leave, mut update) = (Vec::new(), Vec::new(), Vec::new());
            for (user, before) in pending {
                if self.sharing {
                    let local = channel.members.get(&user).and_then(MemberState::local_view);
                    let print = local.as_ref().map(|view| Roster::fingerprint(&self.prints, view));
                    if print != channel.shared.get(&user).copied() {
                        match print {
                            Some(print) => channel.shared.insert(user.clone(), print),
                            None => channel.shared.remove(&user),
                        };
                        let cause = if local.is_none() {
                            ended.get(&user).copied()
                        } else {
                            None
                        };
                        self.outputs.push_back(Output::Share {
                            ch: ch.clone(),
                            user: user.clone(),
                            view: local,
                            cause,
                        });
                    }
                }
                let after = channel.members.get(&user).map(MemberState::view);
                match (before, after) {
                    (None, Some(now)) => join.push(now),
                    (Some(_), None) => leave.push(user),
                    (Some(before), Some(now)) if before != now => update.push(now),
                    _ => {}
                }
            }
            // A capped list: the shared diff tells only what changes in the shared part;
            // what happens beyond it goes to the followers of whom it concerns.
            let mut focus: HashMap<ConnId, (Vec<Member>, Vec<String>, Vec<Member>)> = HashMap::new();
            if let (Some(list), false) = (&mut channel.list, channel.count_only) {
                let ids = |members: &[Member]| members.iter().map(|m| m.id.clone()).collect::<Vec<_>>();
                let mut joined = ids(&join);
                joined.sort();
                let changes = list.apply(&joined, &leave, &ids(&update));
                let view = |user: &String| channel.members.get(user).map(MemberState::view);
                join = changes.shown.iter().filter_map(view).collect();
                leave = changes.unshown;
                update = changes.updated.iter().filter_map(view).collect();
                let subscribers = &channel.subscribers;
                let mut tell = |user: &String, f: &mut dyn FnMut(&mut (Vec<Member>, Vec<String>, Vec<Member>))| {
                    for conn in list.followers(user).filter(|c| subscribers.contains(c)) {
                        f(focus.entry(conn).or_default());
                    }
                };
                for user in &changes.hidden_joined {
                    if let Some(m) = view(user) {
                        tell(user, &mut |f| f.0.push(m.clone()));
                    }
                }
                for user in &changes.hidden_left {
                    tell(user, &mut |f| f.1.push(user.clone()));
                }
                for user in &changes.hidden_updated {
                    if let Some(m) = view(user) {
                        tell(user, &mut |f| f.2.push(m.clone()));
                    }
                }
            }
            let changed = if channel.count_only {
                count != channel.sent_count
            } else if channel.list.is_some() {
                count != channel.sent_count || !(join.is_empty() && leave.is_empty() && update.is_empty())
            } else {
                !(join.is_empty() && leave.is_empty() && update.is_empty())
            };
            if changed {
                channel.seq += 1;
                channel.sent_count = count;
                channel.last_diff = Some(now);
                if !channel.subscribers.is_empty() {
                    if channel.count_only {
                        (join, leave, update) = (Vec::new(), Vec::new(), Vec::new());
                    } else {
                        // Deterministic order for subscribers and tests.
                        join.sort_by(|a, b| a.id.cmp(&b.id));
                        leave.sort();
                        update.sort_by(|a, b| a.id.cmp(&b.id));
                    }
                    let frame = ServerMsg::Diff {
                        ch: ch.clone(),
                        seq: channel.seq,
                        count,
                        join,
                        leave,
                        update,
                    }
                    .encode();
                    let mut to: Vec<ConnId> = channel.subscribers.iter().copied().collect();
                    to.sort_unstable();
                    self.stats.diffs_sent += to.len() as u64;
                    self.outputs.push_back(Output::Deliver { to, frame });
                }
            }
            if !channel.held.is_empty() {
                match release {
                    None => channel.awaiting.append(&mut channel.held),
                    Some(at) if channel.flush_at.is_none() => {
                        channel.flush_at = Some(at);
                        self.flushes.push(Reverse((at, ch.clone())));
                    }
                    Some(_) => {}
                }
            }
            let mut focus: Vec<_> = focus.into_iter().collect();
            focus.sort_unstable_by_key(|(conn, _)| *conn);
            for (conn, (join, leave, update)) in focus {
                let msg = ServerMsg::Focus {
                    ch: ch.clone(),
                    join,
                    leave,
                    update,
                };
                self.outputs.push_back(Output::Send { conn, msg });
            }
            match (&channel.list, channel.count_only) {
                _ if channel.awaiting.is_empty() => {}
                (Some(list), false) => {
                    // The shared part once, then each newcomer's own people beside it.
                    let shown: Vec<Member> = list
                        .shown()
                        .filter_map(|u| channel.members.get(u).map(MemberState::view))
                        .collect();
                    let to = std::mem::take(&mut channel.awaiting);
                    for &conn in &to {
                        let mut users = shown.clone();
                        for user in list.follows(conn).iter().filter(|u| !list.is_shown(u)) {
                            users.extend(channel.members.get(user).map(MemberState::view));
                        }
                        let msg = ServerMsg::Snapshot {
                            ch: ch.clone(),
                            seq: channel.seq,
                            count,
                            users: Some(users),
                            cap: Some(list.cap()),
                        };
                        self.outputs.push_back(Output::Send { conn, msg });
                    }
                    channel.subscribers.extend(to.iter().copied());
                    self.stats.snapshots_sent += to.len() as u64;
                }
                _ => {
                    let users =
                        (!channel.count_only).then(|| channel.members.values().map(MemberState::view).collect());
                    let frame = ServerMsg::Snapshot {
                        ch: ch.clone(),
                        seq: channel.seq,
                        count,
                        users,
                        cap: None,
                    }
                    .encode();
                    let to: Vec<ConnId> = std::mem::take(&mut channel.awaiting).into_iter().collect();
                    channel.subscribers.extend(to.iter().copied());
                    self.stats.snapshots_sent += to.len() as u64;
                    self.outputs.push_back(Output::Deliver { to, frame });
                }
            }
            if channel.is_idle() {
                self.channels.remove(&ch);
            }
        }
    }
}

//! Local leases and graces: a connection's lease (renewed by any frame or pong), the
//! presences its client holds, the unload and reconnect graces that keep them through a
//! refresh or a dropped network, and what the timers do when they fire.

use super::*;

impl Roster {
    /// A connection said hello as `identity` from browser profile `client`.
    pub fn connect(
        &mut self,
        now: Instant,
        conn: ConnId,
        identity: Identity,
        client: &str,
        token_expires: Option<Instant>,
    ) -> Attached {
        let key = ClientKey {
            user: identity.id.clone(),
            client: client.to_string(),
        };
        self.conns.insert(
            conn,
            Conn {
                client: key.clone(),
                last_seen: now,
                subscriptions: VecSet::new(),
                unloading: None,
                token_expires,
                token_warned: false,
                resuming: false,
            },
        );
        self.arm(now + self.config.lease_timeout_ms, Timer::Lease(conn));
        if let Some(at) = token_expires {
            self.arm(at, Timer::Token(conn));
        }
        let Some(existing) = self.clients.get_mut(&key) else {
            let count = self.users.entry(key.user.clone()).or_default();
            *count += 1;
            if *count == 1 {
                if !self.remote_users.contains_key(&key.user) {
                    self.emit(now, Event::UserOnline { user: identity.clone() });
                }
                self.share_online(&identity, true);
            }
            self.clients.insert(
                key,
                Client {
                    identity,
                    link: Link::Connected(conn),
                    channels: VecMap::new(),
                },
            );
            return Attached { resumed: false };
        };
        existing.identity = identity;
        let previous = std::mem::replace(&mut existing.link, Link::Connected(conn));
        // The presences survive; the new connection confirms those it still wants.
        let (until, cause) = match previous {
            Link::Away { until, cause } => (until.max(now), cause),
            Link::Connected(_) => (now + self.config.reconnect_grace_ms, EndCause::Reconnect),
        };
        for hold in existing.channels.values_mut() {
            *hold = Some((until, cause));
        }
        let resumed = !existing.channels.is_empty();
        if resumed {
            self.arm(until, Timer::Hold(Box::new(key)));
        }
        if let Link::Connected(old) = previous {
            if old != conn {
                self.forget_conn(old);
                self.outputs.push_back(Output::Close {
                    conn: old,
                    code: close::REPLACED,
                    reason: "replaced by a newer connection of this client",
                });
            }
        }
        Attached { resumed }
    }

    /// Any sign of life from a connection: a frame (`frame = true`) or a pong.
    pub fn touch(&mut self, now: Instant, conn: ConnId, frame: bool) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.last_seen = c.last_seen.max(now);
            if frame {
                // A page that still talks after its beacon was not going away after all
                // (a cancelled navigation, a page restored from the back-forward cache).
                c.unloading = None;
            }
        }
    }

    /// Enter `ch`, or re-enter it (which confirms a presence held over a reconnect).
    pub fn enter(
        &mut self,
        now: Instant,
        conn: ConnId,
        ch: &str,
        access: Access,
        status: Option<Status>,
        meta: Option<Meta>,
    ) -> Result<(), ErrorCode> {
        validate_name(ch)?;
        if !access.enter {
            return Err(ErrorCode::ForbiddenEnter);
        }
        self.check_meta(meta.as_ref())?;
        let key = self.conns.get(&conn).ok_or(ErrorCode::HelloFirst)?.client.clone();
        let already = self.clients[&key].channels.contains_key(ch);
        if !already
            && self.channels_in_use(conn) >= self.config.max_channels
            && !self.conns[&conn].subscriptions.contains(ch)
        {
            return Err(ErrorCode::TooManyChannels);
        }
        let identity = self.clients[&key].identity.clone();
        let channel = self.channels.get(ch);
        let present = channel.is_some_and(|c| c.members.contains_key(&key.user));
        if let (Some(max), false) = (access.max_members, present) {
            if channel.map_or(0, |c| c.members.len()) >= max {
                return Err(ErrorCode::ChannelFull);
            }
        }
        self.touch(now, conn, true);
        self.clients
            .get_mut(&key)
            .expect("conn's client exists")
            .channels
            .insert(ch.to_string(), None);
        self.stamp += 1;
        let stamp = self.stamp;
        let channel = self.channel_mut(now, ch, access.count_only, true);
        channel.cap_list(access.list_cap);
        channel.note(&key.user);
        let occupied = channel.members.is_empty();
        let before = channel.members.get(&key.user).map(MemberState::status);
        let member = channel.members.entry(key.user.clone()).or_insert_with(|| MemberState {
            identity: identity.clone(),
            holders: VecMap::new(),
        });
        member.identity = identity.clone();
        match member.holders.get_mut(&key.client) {
            Some(holder) => {
                if let Some(status) = status {
                    holder.status = status;
                }
                if let Some(meta) = meta {
                    holder.meta = meta;
                    holder.stamp = stamp;
                }
            }
            None => {
                member.holders.insert(
                    key.client.clone(),
                    Holder {
                        status: status.unwrap_or_default(),
                        meta: meta.unwrap_or_default(),
                        stamp,
                    },
                );
            }
        }
        let after = member.status();
        self.emit_arrival(now, ch, identity, occupied, before, after);
        Ok(())
    }

    /// Change status and/or meta in an entered channel.
    pub fn update(
        &mut self,
        now: Instant,
        conn: ConnId,
        ch: &str,
        status: Option<Status>,
        meta: Option<Meta>,
    ) -> Result<(), ErrorCode> {
        validate_name(ch)?;
        self.check_meta(meta.as_ref())?;
        let key = self.conns.get(&conn).ok_or(ErrorCode::HelloFirst)?.client.clone();
        if !self.clients[&key].channels.contains_key(ch) {
            return Err(ErrorCode::NotEntered);
        }
        self.touch(now, conn, true);
        self.stamp += 1;
        let stamp = self.stamp;
        self.mark_dirty(now, ch, true);
        let channel = self.channels.get_mut(ch).expect("an entered channel exists");
        channel.note(&key.user);
        let member = channel
            .members
            .get_mut(&key.user)
            .expect("an entered client's user is a member");
        let before = member.status();
        let holder = member.holders.get_mut(&key.client).expect("an entered client holds");
        if let Some(status) = status {
            holder.status = status;
        }
        if let Some(meta) = meta {
            holder.meta = meta;
            holder.stamp = stamp;
        }
        let after = member.status();
        self.emit_status(now, ch, &key.user, Some(before), after);
        Ok(())
    }

    /// Leave `ch` now. Leaving a channel not entered is not an error.
    pub fn leave(&mut self, now: Instant, conn: ConnId, ch: &str) -> Result<(), ErrorCode> {
        validate_name(ch)?;
        let key = self.conns.get(&conn).ok_or(ErrorCode::HelloFirst)?.client.clone();
        self.touch(now, conn, true);
        if self
            .clients
            .get_mut(&key)
            .expect("conn's client exists")
            .channels
            .remove(ch)
            .is_some()
        {
            self.remove_presence(now, &key, ch, EndCause::Left);
        }
        Ok(())
    }

    /// A periodic check-in: proof of life plus the status for every entered channel.
    pub fn checkin(&mut self, now: Instant, conn: ConnId, status: Status) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let key = c.client.clone();
        self.touch(now, conn, true);
        let channels: Vec<String> = self.clients[&key].channels.keys().cloned().collect();
        for ch in channels {
            let same = self
                .channels
                .get(&ch)
                .and_then(|c| c.members.get(&key.user))
                .and_then(|m| m.holders.get(&key.client))
                .is_some_and(|h| h.status == status);
            if !same {
                let _ = self.update(now, conn, &ch, Some(status), None);
            }
        }
    }

    /// A beacon from a page that is going away: its presences end after the unload
    /// grace unless the same client comes back.
    pub fn beacon(&mut self, now: Instant, conn: ConnId) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.unloading = Some(now);
            self.arm(now + self.config.unload_grace_ms, Timer::Unload(conn));
        }
    }

    /// The connection's token was renewed.
    pub fn refresh_token(&mut self, now: Instant, conn: ConnId, expires: Option<Instant>) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.token_expires = expires;
            c.token_warned = false;
            if let Some(at) = expires {
                self.arm(at, Timer::Token(conn));
            }
            self.touch(now, conn, true);
        }
    }

    /// The socket closed. `unloading`: the page said it is going away (close code 4001
    /// or 1001); otherwise the network or the relay dropped it.
    pub fn disconnect(&mut self, now: Instant, conn: ConnId, unloading: bool) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let beacon = c.unloading;
        let key = c.client.clone();
        self.forget_conn(conn);
        let (until, cause) = match (beacon, unloading) {
            (Some(at), _) => ((at + self.config.unload_grace_ms).max(now), EndCause::Unload),
            (None, true) => (now + self.config.unload_grace_ms, EndCause::Unload),
            (None, false) => (now + self.config.reconnect_grace_ms, EndCause::Reconnect),
        };
        let Some(client) = self.clients.get_mut(&key) else {
            return;
        };
        if client.link != Link::Connected(conn) {
            return;
        }
        // Even a client that only watched stays through the grace, so that a refresh
        // does not flap the user offline and online.
        client.link = Link::Away { until, cause };
        self.arm(until, Timer::Away(Box::new(key)));
    }

    /// `user`'s rights in `ch` are now `access` (the site took some back, or an operator
    /// removed them): on this relay, their clients leave `ch` at once unless they may
    /// still enter (subscribers see `leave`), and their connections stop watching it
    /// unless they may still view. With rights unchanged nothing moves, and the answer
    /// says who still holds the channel.
    pub fn revoke(&mut self, now: Instant, ch: &str, user: &str, access: Access) -> Revoked {
        let mut out = Revoked::default();
        let Some(channel) = self.channels.get(ch) else {
            return out;
        };
        let holders: Vec<ClientKey> = channel
            .members
            .get(user)
            .map(|m| m.holders.keys().filter(|k| !is_remote(k)))
            .into_iter()
            .flatten()
            .map(|client| ClientKey {
                user: user.to_string(),
                client: client.clone(),
            })
            .collect();
        let mut watchers: Vec<ConnId> = channel
            .subscribers
            .iter()
            .chain(&channel.awaiting)
            .copied()
            .filter(|c| self.conns.get(c).is_some_and(|c| c.client.user == user))
            .collect();
        watchers.sort_unstable();
        watchers.dedup();
        for key in holders {
            let conn = match self.clients.get(&key).map(|c| c.link) {
                Some(Link::Connected(conn)) => Some(conn),
                _ => None,
            };
            if access.enter {
                out.held.extend(conn);
                continue;
            }
            if let Some(client) = self.clients.get_mut(&key) {
                client.channels.remove(ch);
            }
            self.remove_presence(now, &key, ch, EndCause::Left);
            out.left.extend(conn);
        }
        for conn in watchers {
            if access.view {
                out.held.push(conn);
                continue;
            }
            if let Some(c) = self.conns.get_mut(&conn) {
                c.subscriptions.remove(ch);
            }
            self.drop_subscriber(ch, conn);
            out.unwatched.push(conn);
        }
        out.held.sort_unstable();
        out.held.dedup();
        out
    }

    pub(super) fn fire(&mut self, now: Instant, timer: Timer) {
        match timer {
            Timer::Lease(conn) => {
                let Some(c) = self.conns.get(&conn) else {
                    return;
                };
                let due = c.last_seen + self.config.lease_timeout_ms;
                if due > now {
                    self.arm(due, Timer::Lease(conn));
                    return;
                }
                self.end_conn(
                    now,
                    conn,
                    EndCause::Timeout,
                    close::LEASE_EXPIRED,
                    "nothing arrived within the lease timeout",
                );
            }
            Timer::Unload(conn) => {
                let Some(c) = self.conns.get(&conn) else {
                    return;
                };
                if c.unloading.is_some_and(|at| at + self.config.unload_grace_ms <= now) {
                    self.end_conn(now, conn, EndCause::Unload, close::UNLOADING, "the page went away");
                }
            }
            Timer::Token(conn) => {
                let grace = self.config.reconnect_grace_ms;
                let Some(c) = self.conns.get_mut(&conn) else {
                    return;
                };
                let Some(expires) = c.token_expires else {
                    return;
                };
                if expires > now {
                    return;
                }
                if !c.token_warned {
                    c.token_warned = true;
                    self.outputs.push_back(Output::Send {
                        conn,
                        msg: ServerMsg::error(ErrorCode::TokenExpired, None, None),
                    });
                    self.arm(expires + grace, Timer::Token(conn));
                } else if expires + grace <= now {
                    // Not a lease end: the client reconnects with a new token inside the
                    // reconnect grace and nobody sees a thing.
                    self.disconnect(now, conn, false);
                    self.outputs.push_back(Output::Close {
                        conn,
                        code: close::TOKEN_EXPIRED,
                        reason: "the token expired",
                    });
                }
            }
            Timer::Away(key) => {
                let Some(client) = self.clients.get(&key) else {
                    return;
                };
                let Link::Away { until, cause } = client.link else {
                    return;
                };
                if until <= now {
                    self.drop_client(now, &key, cause);
                }
            }
            Timer::Hold(key) => {
                let Some(client) = self.clients.get_mut(&key) else {
                    return;
                };
                let expired: Vec<(String, EndCause)> = client
                    .channels
                    .iter()
                    .filter_map(|(ch, hold)| {
                        hold.filter(|(until, _)| *until <= now)
                            .map(|(_, cause)| (ch.clone(), cause))
                    })
                    .collect();
                for (ch, _) in &expired {
                    client.channels.remove(ch);
                }
                for (ch, cause) in expired {
                    self.remove_presence(now, &key, &ch, cause);
                }
            }
        }
    }

    /// End a connection and, at once, every presence of its client.
    pub(super) fn end_conn(&mut self, now: Instant, conn: ConnId, cause: EndCause, code: u16, reason: &'static str) {
        let key = self.conns[&conn].client.clone();
        self.forget_conn(conn);
        self.drop_client(now, &key, cause);
        self.outputs.push_back(Output::Close { conn, code, reason });
    }

    /// Forget a client: its presences end with `cause`, and its user goes offline if it
    /// was their last client.
    pub(super) fn drop_client(&mut self, now: Instant, key: &ClientKey, cause: EndCause) {
        let Some(client) = self.clients.remove(key) else {
            return;
        };
        for ch in client.channels.keys() {
            self.remove_presence(now, key, ch, cause);
        }
        if let Some(count) = self.users.get_mut(&key.user) {
            *count -= 1;
            if *count == 0 {
                self.users.remove(&key.user);
                self.share_online(&client.identity, false);
                if !self.remote_users.contains_key(&key.user) {
                    self.emit(now, Event::UserOffline { user: client.identity });
                }
            }
        }
    }

    pub(super) fn forget_conn(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.remove(&conn) {
            for ch in &c.subscriptions {
                self.drop_subscriber(ch, conn);
            }
        }
    }

    pub(super) fn remove_presence(&mut self, now: Instant, key: &ClientKey, ch: &str, cause: EndCause) {
        self.stats.ended[cause.index()] += 1;
        self.release(now, ch, &key.user, &key.client, cause);
    }

    /// `holder` (a local client, or `@relay`) lets go of `user` in `ch` for `cause`: the
    /// member leaves with its last holder, or its status may change.
    pub(super) fn release(&mut self, now: Instant, ch: &str, user: &str, holder: &str, cause: EndCause) {
        self.mark_dirty(now, ch, true);
        let Some(channel) = self.channels.get_mut(ch) else {
            return;
        };
        channel.note(user);
        let Some(member) = channel.members.get_mut(user) else {
            return;
        };
        let before = member.status();
        member.holders.remove(holder);
        if !member.holders.keys().any(|k| !is_remote(k)) {
            // This relay's own view ends: the others are told why with the share.
            channel.ended.insert(user.to_string(), cause);
        }
        if !member.holders.is_empty() {
            let after = member.status();
            self.emit_status(now, ch, user, Some(before), after);
            return;
        }
        let member = channel.members.remove(user).expect("just seen");
        let vacated = channel.members.is_empty();
        self.emit(
            now,
            Event::Leave {
                ch: ch.to_string(),
                user: member.identity,
                cause,
            },
        );
        if vacated {
            self.emit(now, Event::ChannelVacated { ch: ch.to_string() });
        }
    }

    /// A holder came or changed: a member that was not there (`before` is `None`)
    /// joins (after the channel's occupied, if it was empty); one that was may change
    /// status.
    pub(super) fn emit_arrival(
        &mut self,
        now: Instant,
        ch: &str,
        identity: Identity,
        occupied: bool,
        before: Option<Status>,
        after: Status,
    ) {
        if before.is_none() {
            if occupied {
                self.emit(now, Event::ChannelOccupied { ch: ch.to_string() });
            }
            let user = identity.id.clone();
            self.emit(
                now,
                Event::Join {
                    ch: ch.to_string(),
                    user: identity,
                },
            );
            // Joins count as active; say so when they are not (a background tab).
            self.emit_status(now, ch, &user, Some(Status::Active), after);
        } else {
            self.emit_status(now, ch, &identity.id, before, after);
        }
    }

    pub(super) fn emit_status(&mut self, now: Instant, ch: &str, user: &str, before: Option<Status>, after: Status) {
        if before != Some(after) {
            self.emit(
                now,
                Event::Status {
                    ch: ch.to_string(),
                    user: user.to_string(),
                    status: after,
                },
            );
        }
    }

    pub(super) fn check_meta(&self, meta: Option<&Meta>) -> Result<(), ErrorCode> {
        match meta {
            Some(meta) if meta_size(meta) > self.config.max_meta_bytes => Err(ErrorCode::MetaTooLarge),
            _ => Ok(()),
        }
    }

    pub(super) fn channels_in_use(&self, conn: ConnId) -> usize {
        let c = &self.conns[&conn];
        let entered = &self.clients[&c.client].channels;
        entered.len() + c.subscriptions.iter().filter(|ch| !entered.contains_key(*ch)).count()
    }
}

//! Merging with other relays: what this relay shares of its own members, the members
//! other relays hold (kept under a holder key per relay), and dropping a relay that died.

use super::*;

impl Roster {
    /// Share this relay's views with other relays from now on.
    pub fn share(&mut self, on: bool) {
        self.sharing = on;
    }

    /// Another relay's view of a user in `ch`. Its holder merges with local clients like
    /// any other, so a user on two relays is one member; the [`Event`]s it causes are
    /// those of the merged member (a user already here through a local client does not
    /// join again).
    pub fn remote(&mut self, now: Instant, ch: &str, relay: &str, view: Member, count_only: bool) {
        if validate_name(ch).is_err() {
            return;
        }
        let key = remote_key(relay);
        self.stamp += 1;
        let stamp = self.stamp;
        let channel = self.channel_mut(now, ch, count_only, true);
        channel.note(&view.id);
        let identity = Identity {
            id: view.id.clone(),
            name: view.name,
            avatar: view.avatar,
        };
        let occupied = channel.members.is_empty();
        let before = channel.members.get(&view.id).map(MemberState::status);
        let member = channel.members.entry(view.id).or_insert_with(|| MemberState {
            identity: identity.clone(),
            holders: VecMap::new(),
        });
        member.identity = identity.clone();
        match member.holders.get_mut(&key) {
            // Keep the stamp when the meta is unchanged, so a status change alone does
            // not make this relay's meta the newest.
            Some(old) if old.meta == view.meta => old.status = view.status,
            _ => {
                member.holders.insert(
                    key,
                    Holder {
                        status: view.status,
                        meta: view.meta,
                        stamp,
                    },
                );
            }
        }
        let after = member.status();
        self.emit_arrival(now, ch, identity, occupied, before, after);
    }

    /// Another relay has a client of this user (`Some`), or none any more (`None`).
    pub fn remote_online(&mut self, now: Instant, relay: &str, user: &str, identity: Option<Identity>) {
        let local = self.users.contains_key(user);
        match identity {
            Some(identity) if identity.id == user => match self.remote_users.get_mut(user) {
                Some((known, relays)) => {
                    *known = identity;
                    relays.insert(relay.to_string());
                }
                None => {
                    if !local {
                        self.emit(now, Event::UserOnline { user: identity.clone() });
                    }
                    let mut relays = VecSet::new();
                    relays.insert(relay.to_string());
                    self.remote_users.insert(user.to_string(), (identity, relays));
                }
            },
            Some(_) => {}
            None => {
                let Some((_, relays)) = self.remote_users.get_mut(user) else {
                    return;
                };
                relays.remove(relay);
                if relays.is_empty() {
                    let (identity, _) = self.remote_users.remove(user).expect("just seen");
                    if !local {
                        self.emit(now, Event::UserOffline { user: identity });
                    }
                }
            }
        }
    }

    /// Forget `relay`'s view of `user` in `ch`, which it let go of for `cause`.
    pub fn remote_gone(&mut self, now: Instant, ch: &str, relay: &str, user: &str, cause: EndCause) {
        if ch == ONLINE {
            self.remote_online(now, relay, user, None);
            return;
        }
        let key = remote_key(relay);
        let holds = self
            .channels
            .get(ch)
            .and_then(|c| c.members.get(user))
            .is_some_and(|m| m.holders.contains_key(&key));
        if !holds {
            return;
        }
        self.release(now, ch, user, &key, cause);
    }

    /// Forget everything `relay` held: it stopped beating for the lease timeout (it
    /// died or lost its network), or handed its clients over when it stopped.
    pub fn drop_relay(&mut self, now: Instant, relay: &str) {
        let mut entries = self.remote_entries();
        // Channels first, so that a user's leaves come before their going offline.
        entries.sort_by_key(|(ch, _, _)| ch == ONLINE);
        for (ch, holder, user) in entries {
            if holder == relay {
                self.remote_gone(now, &ch, &holder, &user, EndCause::Timeout);
            }
        }
    }

    /// Every (channel, relay, user) another relay holds, as this roster knows it
    /// (channel [`ONLINE`]: the user is connected there).
    pub fn remote_entries(&self) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        for (user, (_, relays)) in &self.remote_users {
            for relay in relays {
                out.push((ONLINE.to_string(), relay.clone(), user.clone()));
            }
        }
        for (ch, channel) in &self.channels {
            for (user, member) in &channel.members {
                for key in member.holders.keys().filter(|k| is_remote(k)) {
                    out.push((ch.clone(), key[1..].to_string(), user.clone()));
                }
            }
        }
        out
    }

    /// The present state of every relay, told as the events that would have led to it
    /// from nothing: each online user, then each member of each channel (with its
    /// status when not active). For whoever starts recording mid-way.
    pub fn truth(&self) -> Vec<Event> {
        let mut online: BTreeMap<&str, &Identity> = BTreeMap::new();
        for client in self.clients.values() {
            online.insert(&client.identity.id, &client.identity);
        }
        for (user, (identity, _)) in &self.remote_users {
            online.entry(user).or_insert(identity);
        }
        let mut out: Vec<Event> = online
            .into_values()
            .map(|identity| Event::UserOnline { user: identity.clone() })
            .collect();
        let mut channels: Vec<(&String, &Channel)> =
            self.channels.iter().filter(|(_, c)| !c.members.is_empty()).collect();
        channels.sort_by_key(|(ch, _)| *ch);
        for (ch, channel) in channels {
            out.push(Event::ChannelOccupied { ch: ch.clone() });
            for (user, member) in &channel.members {
                out.push(Event::Join {
                    ch: ch.clone(),
                    user: member.identity.clone(),
                });
                let status = member.status();
                if status != Status::Active {
                    out.push(Event::Status {
                        ch: ch.clone(),
                        user: user.clone(),
                        status,
                    });
                }
            }
        }
        out
    }

    /// Every view this relay's own clients make, to assert them all again (after the
    /// shared store was unreachable or lost its data).
    pub fn local_views(&mut self) -> Vec<(String, Member)> {
        let mut out = Vec::new();
        let mut online = HashSet::new();
        for client in self.clients.values() {
            if online.insert(client.identity.id.clone()) {
                out.push((ONLINE.to_string(), online_view(&client.identity)));
            }
        }
        for (ch, channel) in &mut self.channels {
            channel.shared.clear();
            for member in channel.members.values() {
                if let Some(view) = member.local_view() {
                    channel
                        .shared
                        .insert(view.id.clone(), Roster::fingerprint(&self.prints, &view));
                    out.push((ch.clone(), view));
                }
            }
        }
        out
    }

    /// Tell the other relays that the user has a client here, or none any more.
    pub(super) fn share_online(&mut self, identity: &Identity, on: bool) {
        if self.sharing {
            self.outputs.push_back(Output::Share {
                ch: ONLINE.to_string(),
                user: identity.id.clone(),
                view: on.then(|| online_view(identity)),
                cause: None,
            });
        }
    }
}

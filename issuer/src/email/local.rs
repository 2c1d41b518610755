//! The development sender: instead of sending, it logs each mail (with its token, so it is
//! refused where the configuration looks like production) and keeps the last one per
//! recipient in a [`MailOutbox`] that tests read.

use std::sync::Arc;

use super::{EmailSender, OutgoingMail, SendFuture};

/// Most recipients whose mails the outbox keeps.
const OUTBOX_CAPACITY: u64 = 10_000;

/// Most mails kept per recipient (the newest).
const MAILS_PER_RECIPIENT: usize = 10;

/// The last mails "sent" to each address.
#[derive(Clone)]
pub struct MailOutbox(moka::sync::Cache<String, Arc<[OutgoingMail]>>);

impl MailOutbox {
    /// The mails sent to `to`, oldest first (at most the last ten).
    pub fn mails_to(&self, to: &str) -> Vec<OutgoingMail> {
        self.0
            .get(&to.to_lowercase())
            .map(|mails| mails.to_vec())
            .unwrap_or_default()
    }

    /// The last mail sent to `to`, if any.
    pub fn last_to(&self, to: &str) -> Option<OutgoingMail> {
        self.mails_to(to).pop()
    }

    fn keep(&self, mail: &OutgoingMail) {
        self.0
            .entry(mail.to.to_lowercase())
            .and_upsert_with(|kept| {
                let mut mails = kept
                    .map(|entry| entry.into_value().to_vec())
                    .unwrap_or_default();
                mails.push(mail.clone());
                let excess = mails.len().saturating_sub(MAILS_PER_RECIPIENT);
                mails.drain(..excess);
                mails.into()
            });
    }
}

/// See the [module docs](self).
pub struct LocalSender {
    outbox: MailOutbox,
}

impl Default for LocalSender {
    fn default() -> Self {
        Self {
            outbox: MailOutbox(moka::sync::Cache::new(OUTBOX_CAPACITY)),
        }
    }
}

impl LocalSender {
    /// Where the mails go.
    pub fn outbox(&self) -> MailOutbox {
        self.outbox.clone()
    }
}

impl EmailSender for LocalSender {
    fn send<'a>(&'a self, mail: &'a OutgoingMail) -> SendFuture<'a> {
        tracing::info!(
            to = %mail.to,
            subject = %mail.subject,
            body = %mail.body,
            "local mail (EMAIL_PROVIDER=local, development only)"
        );
        self.outbox.keep(mail);
        Box::pin(async { Ok(()) })
    }
}

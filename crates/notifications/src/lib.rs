//! Notifications leave the platform through one outbox.
//!
//! A message is a row in `outbox_messages` plus an `outbox.send` job, written in the
//! caller's transaction, so a sign-up code or a reminder exists exactly when the action
//! that caused it committed. The job delivers through the configured transport and keeps
//! the delivery status on the row. With no transport configured for a channel, the row is
//! marked `captured`: nothing leaves the machine and the operator page `/dev/outbox`
//! shows what would have been sent.
//!
//! One-time codes and links never rest in clear: the stored body marks their place, the
//! secret is sealed beside it, put in only at sending and erased once delivered.

mod outbox;
pub mod sms;
pub mod smtp;

pub use outbox::{
    Channel, Outbox, OutboxRow, OutgoingMessage, SECRET_MARK, SendOutboxJob, Transports,
};
pub use sms::{SendFailure, SmsSender, TwilioSms};
pub use smtp::{EmailSender, SmtpEmail};

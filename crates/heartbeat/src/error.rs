use thiserror::Error;

/// What can go wrong setting up or sending heartbeats.
#[derive(Debug, Error)]
pub enum HeartbeatError {
    /// A configuration value breaks the federation's rules (the same rules the service
    /// applies: slug, hub_url, mesh_namespace, version).
    #[error("invalid heartbeat configuration: {0}")]
    InvalidConfig(String),
    /// The NATS client could not be set up (bad URL, unreadable credentials, refused).
    #[error("cannot connect to NATS: {0}")]
    Connect(String),
    /// The client refused the message.
    #[error("cannot publish the heartbeat: {0}")]
    Publish(String),
    /// The NATS link is down, or the client did not flush in time.
    #[error("the heartbeat did not reach NATS: {0}")]
    Flush(String),
    /// The HTTP request failed before an answer came back.
    #[error("heartbeat request to {url} failed: {message}")]
    Http {
        /// The URL requested.
        url: String,
        /// What failed.
        message: String,
    },
    /// The service answered, but not with 202 Accepted.
    #[error("the service refused the heartbeat ({status}): {body}")]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// The answer's body, cut short.
        body: String,
    },
}

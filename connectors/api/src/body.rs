//! Request bodies, read into one buffer and held against a budget shared by
//! every connection of the process.
//!
//! Each body is bounded on its own (its limit, its time), but the server
//! takes thousands of connections: 2 MiB each, and kept as the pieces they
//! arrived in (a body sent a byte per chunk cost ~60 bytes a byte), a few
//! thousand clients held tens of GB. Here a body is copied into one buffer
//! as it arrives and its capacity is charged to [`BODY_BUDGET_BYTES`]; a
//! request that would pass the budget is refused with `ThrottlingException`
//! (which the SDKs retry) and its bytes are freed at once.

use bytes::Buf;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Bytes of request bodies the process holds at once, all connections
/// together: 128 bodies of the largest size.
pub const BODY_BUDGET_BYTES: usize = 256 << 20;

/// Bytes of request bodies held now, every connection together.
static HELD: AtomicUsize = AtomicUsize::new(0);

/// Why a body was not read.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyError {
    TooLarge,
    Late,
    /// The bodies being read or answered hold the whole budget.
    Busy,
    Broken(String),
}

/// A request's body, and its share of the budget until it is dropped.
pub struct Body {
    bytes: Vec<u8>,
    charged: Charge,
}

impl std::ops::Deref for Body {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl Body {
    /// Bytes of the budget this body holds.
    pub fn charged(&self) -> usize {
        self.charged.0
    }
}

/// Bytes taken from a budget's count, given back on drop.
struct Charge(usize, &'static AtomicUsize);

impl Charge {
    /// Grow the charge to `total` bytes, if the budget has room.
    fn grow_to(&mut self, total: usize, budget: usize) -> bool {
        let more = total.saturating_sub(self.0);
        let taken = self.1.fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
            held.checked_add(more).filter(|after| *after <= budget)
        });
        if taken.is_ok() {
            self.0 += more;
        }
        taken.is_ok()
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.1.fetch_sub(self.0, Ordering::AcqRel);
    }
}

/// Bytes of request bodies held now, every connection together.
pub fn held() -> usize {
    HELD.load(Ordering::Acquire)
}

/// Read a body of at most `limit` bytes within `time`, charging what it
/// holds to the process's budget.
pub async fn read(body: Incoming, limit: usize, time: Duration) -> Result<Body, BodyError> {
    read_within(body, limit, time, (&HELD, BODY_BUDGET_BYTES)).await
}

async fn read_within<B>(
    mut body: B,
    limit: usize,
    time: Duration,
    (held, budget): (&'static AtomicUsize, usize),
) -> Result<Body, BodyError>
where
    B: hyper::body::Body + Unpin,
    B::Error: std::fmt::Display,
{
    let mut out = Body { bytes: Vec::new(), charged: Charge(0, held) };
    let reading = async {
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| BodyError::Broken(e.to_string()))?;
            let Ok(mut data) = frame.into_data() else { continue };
            if out.bytes.len() + data.remaining() > limit {
                return Err(BodyError::TooLarge);
            }
            // The buffer grows by doubling, up to the limit: its capacity
            // is what memory holds, so that is what is charged.
            let wanted = (out.bytes.len() + data.remaining()).next_power_of_two().min(limit);
            if wanted > out.bytes.capacity() {
                if !out.charged.grow_to(wanted, budget) {
                    return Err(BodyError::Busy);
                }
                out.bytes.reserve_exact(wanted - out.bytes.len());
            }
            while data.has_remaining() {
                let chunk = data.chunk();
                out.bytes.extend_from_slice(chunk);
                let n = chunk.len();
                data.advance(n);
            }
        }
        Ok(())
    };
    match tokio::time::timeout(time, reading).await {
        Err(_) => Err(BodyError::Late),
        Ok(Err(e)) => Err(e),
        Ok(Ok(())) => Ok(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use hyper::body::Frame;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// A body that arrives in `pieces` chunks of `size` bytes: a test double
    /// of hyper's `Incoming`, which only a live connection makes (the API
    /// client tests send real requests through it).
    struct Pieces {
        left: usize,
        size: usize,
    }

    impl hyper::body::Body for Pieces {
        type Data = Bytes;
        type Error = String;
        fn poll_frame(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, String>>> {
            if self.left == 0 {
                return Poll::Ready(None);
            }
            self.left -= 1;
            Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b' '; self.size])))))
        }
    }

    fn pieces(left: usize, size: usize) -> Pieces {
        Pieces { left, size }
    }

    const TIME: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn a_body_in_many_pieces_is_held_in_one_buffer_charged_to_the_budget() {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let body = read_within(pieces(10_000, 1), 1 << 20, TIME, (&COUNT, 1 << 30)).await.expect("read");
        assert_eq!(body.len(), 10_000);
        assert_eq!(body.charged(), 16_384, "its buffer's capacity, not a piece per chunk");
        assert_eq!(COUNT.load(Ordering::Acquire), 16_384);
        drop(body);
        assert_eq!(COUNT.load(Ordering::Acquire), 0, "given back when the request is done");
    }

    #[tokio::test]
    async fn bodies_past_the_budget_are_refused_and_their_bytes_given_back() {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let budget = (&COUNT, 3 * 4096);
        let limit = 1 << 20;
        let first = read_within(pieces(2, 2048), limit, TIME, budget).await.expect("fits");
        let second = read_within(pieces(2, 2048), limit, TIME, budget).await.expect("fits");
        let third = read_within(pieces(4, 2048), limit, TIME, budget).await;
        assert_eq!(third.err(), Some(BodyError::Busy), "the budget is spent");
        assert_eq!(COUNT.load(Ordering::Acquire), 2 * 4096, "the refused body's bytes are given back");
        drop((first, second));
        assert!(read_within(pieces(4, 2048), limit, TIME, budget).await.is_ok(), "room again once the others are done");
        let big = read_within(pieces(3, 1000), 2500, TIME, budget).await;
        assert_eq!(big.err(), Some(BodyError::TooLarge));
        assert_eq!(COUNT.load(Ordering::Acquire), 0);
    }
}

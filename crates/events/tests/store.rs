//! The event bus on a real database: subscribers of this process get every event with its
//! audience, in order; a subscriber that fell behind loses old events, never the bus.
//! (Between nodes through PostgreSQL: `live::events_cross_nodes_through_postgres`.)

#![allow(clippy::unwrap_used)]

use tsunagu_db::testing::Scratch;
use tsunagu_events::{Event, EventBus, Topic};
use tsunagu_kernel::{AccountId, FacilityId};

#[tokio::test]
async fn subscribers_get_each_event_with_its_audience_in_order() {
    let s = Scratch::new().await;
    let bus = EventBus::new(s.db.clone());
    let mut a = bus.subscribe();
    let mut b = bus.subscribe();
    for (topic, kind) in [
        (Topic::Facility(FacilityId(1)), "booking.created"),
        (Topic::Account(AccountId(9)), "booking.changed"),
        (Topic::Operators, "job.failed"),
    ] {
        bus.publish(Event {
            topic,
            kind: kind.into(),
            data: serde_json::json!({"id": 1}),
        })
        .await;
    }
    for rx in [&mut a, &mut b] {
        let got: Vec<String> = (0..3)
            .map(|_| rx.try_recv().unwrap().kind.clone())
            .collect();
        assert_eq!(got, ["booking.created", "booking.changed", "job.failed"]);
        assert!(rx.try_recv().is_err());
    }
}

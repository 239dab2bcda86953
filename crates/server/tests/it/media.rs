//! Media through the embedded SFU: three WebRTC clients (str0m in RTP mode) — the doctor,
//! the URL call's patient and an admitted guest — join one visit room through the real
//! signalling on the room's WebSocket and exchange RTP over loopback UDP. The guest joins
//! late, when the publishers' sequence numbers are past 65,535: it must start each video on
//! a keyframe and get sequence numbers rebased for its own connection.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use reqwest::cookie::CookieStore;

use crate::helpers::*;
use crate::rtc_client::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_participants_exchange_media_and_a_late_guest_starts_on_keyframes_with_rebased_numbers()
 {
    init();
    let began = Instant::now();
    let app = TestApp::spawn().await;
    let clerk = crate::setup::staff(&app, "clerk").await;
    // A URL call starting now, its link sent by SMS.
    let (visit, link) = url_call(&app, &clerk, "三者通話").await;
    // A family member invited with their own link.
    let guest_path = crate::visits::invite_family(&clerk, visit).await;
    let gid: i64 = sqlx::query_scalar("SELECT id FROM visit_guests WHERE visit_id = $1")
        .bind(visit)
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    let (doctor, jar) = doctor_browser(&app).await;
    let ws_url = url::Url::parse(&format!("{}/staff/visits/{visit}/ws", app.base)).unwrap();
    let doctor_cookie = jar.cookies(&ws_url).unwrap().to_str().unwrap().to_string();

    // The patient waits; before the doctor starts, media is refused.
    let mut patient_ws = crate::live::connect(&app, &format!("{link}/ws"), "x=y").await;
    let (_, early) = Client::new();
    let (reply, _) = offer_over(&mut patient_ws, &early).await;
    assert_eq!(reply["kind"], "rtc.error", "{reply}");
    assert!(
        reply["data"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{reply}"
    );

    // The doctor starts and admits the guest.
    let dp = doctor.get(&format!("/staff/visits/{visit}")).await;
    assert_eq!(dp.status, 200, "{}", dp.body);
    let p = doctor
        .post(&format!("/staff/visits/{visit}/start"), &dp.csrf(), &[])
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    // Started, but the guest is not let in yet: no media for them.
    let mut waiting_guest = crate::live::connect(&app, &format!("{guest_path}/ws"), "x=y").await;
    let (_, early) = Client::new();
    let (reply, _) = offer_over(&mut waiting_guest, &early).await;
    assert_eq!(reply["kind"], "rtc.error", "{reply}");
    assert!(
        reply["data"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("許可")),
        "the guest is told the doctor lets them in: {reply}"
    );
    drop(waiting_guest);
    admit(&doctor, &dp.csrf(), visit, gid).await;

    // The doctor and the patient join and hear and see each other.
    let doctor_ws =
        crate::live::connect(&app, &format!("/staff/visits/{visit}/ws"), &doctor_cookie).await;
    let doc = join("doctor", doctor_ws).await;
    let pat = join("patient", patient_ws).await;
    let media_from = Instant::now();
    wait_until(
        &app,
        "the doctor and the patient receive each other's audio and video",
        Duration::from_secs(5),
        &[&doc, &pat],
        || doc.hears("patient") && pat.hears("doctor"),
    )
    .await;
    // Media until both publishers' video numbers are past 65,535 (ROC 1), two seconds at least.
    wait_until(
        &app,
        "both publishers' video sequence numbers passed 65,535",
        Duration::from_secs(6),
        &[&doc, &pat],
        || {
            doc.video_seq() > 65_560
                && pat.video_seq() > 65_560
                && media_from.elapsed() >= Duration::from_secs(2)
        },
    )
    .await;
    let published = (doc.video_seq(), pat.video_seq());

    // The guest joins late.
    let guest_ws = crate::live::connect(&app, &format!("{guest_path}/ws"), "x=y").await;
    let guest = join("guest", guest_ws).await;
    wait_until(
        &app,
        "the guest receives both, and both receive the guest",
        Duration::from_secs(5),
        &[&doc, &pat, &guest],
        || {
            guest.hears("doctor")
                && guest.hears("patient")
                && doc.hears("guest")
                && pat.hears("guest")
        },
    )
    .await;
    // A little more media, for the counts.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let summary = report(&app, &[&doc, &pat, &guest]).await;
    eprintln!(
        "media: publishers' next video seq at the guest's join: doctor {}, patient {}\n{summary}",
        published.0, published.1
    );

    // Each connection's tiles name the two others, on distinct mids.
    for (p, others) in [
        (&doc, ["patient", "guest"]),
        (&pat, ["doctor", "guest"]),
        (&guest, ["doctor", "patient"]),
    ] {
        let tiles: Vec<TileMids> = others.iter().map(|r| p.tile(r).unwrap()).collect();
        assert_eq!(p.tiles.lock().unwrap().len(), 2, "{}", p.report());
        let mids: HashSet<&String> = tiles
            .iter()
            .flat_map(|t| [&t.audio_mid, &t.video_mid])
            .collect();
        assert_eq!(mids.len(), 4, "{tiles:?}");
    }
    assert!(guest.tile("doctor").unwrap().key.starts_with("doctor:"));
    assert_eq!(guest.tile("patient").unwrap().key, "patient");
    assert_eq!(doc.tile("guest").unwrap().key, format!("guest:{gid}"));
    assert!(published.0 > 65_535 && published.1 > 65_535);
    for role in ["doctor", "patient"] {
        let (audio, video) = guest.from(role);
        assert_eq!(
            video.first_keyframe,
            Some(true),
            "the guest's first video packet from the {role} starts a keyframe\n{summary}"
        );
        // Rebased for the guest's connection: the publisher is past 65,535 (ROC 1); raw
        // numbers would have left the guest decrypting nothing.
        assert!(
            video.first_seq.unwrap() < 10_000 && video.max_seq < 10_000,
            "video from the {role}: {video:?}"
        );
        assert!(
            audio.first_seq.unwrap() < 10_000 && audio.max_seq < 10_000,
            "audio from the {role}: {audio:?}"
        );
    }
    for p in [&doc, &pat, &guest] {
        let tiles = p.tiles.lock().unwrap().clone();
        let st = p.shared.lock().unwrap();
        assert!(st.error.is_none(), "{}: {:?}", p.name, st.error);
        assert!(st.missing_tx.is_empty(), "{}: {:?}", p.name, st.missing_tx);
        // Media arrives only on the mids the tiles name, and each video starts on a keyframe.
        for (mid, r) in &st.by_mid {
            let tile = tiles
                .iter()
                .find(|t| t["audio_mid"] == mid.as_str() || t["video_mid"] == mid.as_str());
            assert!(tile.is_some(), "{}: media on mid {mid}, in no tile", p.name);
            if tile.is_some_and(|t| t["video_mid"] == mid.as_str()) {
                assert_eq!(r.first_keyframe, Some(true), "{}: mid {mid}", p.name);
            }
        }
    }

    doc.stop();
    pat.stop();
    guest.stop();
    app.stop().await;
    eprintln!("media: the whole test took {:?}", began.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_rapid_offers_are_refused_without_harm() {
    init();
    let app = TestApp::spawn().await;
    let (_doctor_ws, mut patient_ws) = started_call(&app, "攻撃者の試し").await;
    // 100 KB of SDP-looking text, with a NUL: refused, the socket stays usable.
    let huge = format!("v=0\r\n{}\0", "a=x\r\n".repeat(20_000));
    let (reply, _) = offer_over(&mut patient_ws, &huge).await;
    assert_eq!(reply["kind"], "rtc.error", "{reply}");
    // A real offer is answered.
    let (_, sdp) = Client::new();
    let (reply, _) = offer_over(&mut patient_ws, &sdp).await;
    assert_eq!(reply["kind"], "rtc.answer", "{reply}");
    // A flood of offers: past ten in ten seconds they are refused unparsed, and say so.
    let mut last = serde_json::Value::Null;
    for _ in 0..10 {
        (last, _) = offer_over(&mut patient_ws, "v=0 flood").await;
        assert_eq!(last["kind"], "rtc.error", "{last}");
    }
    assert!(
        last["data"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("やり直しすぎ")),
        "{last}"
    );
}

/// Opus in RED (RFC 2198), as Chromium sends it: a browser that offered RED gets it as
/// published; one that did not (some Safari and Firefox versions) gets the primary frame alone
/// as plain Opus, and hears the doctor instead of nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn red_audio_goes_as_it_is_to_red_browsers_and_unwrapped_to_the_others() {
    init();
    for patient_red in [false, true] {
        let app = TestApp::spawn().await;
        let (doctor_ws, patient_ws) = started_call(&app, "RED").await;
        let red = JoinOpts {
            red: true,
            ..Default::default()
        };
        let doc = join_with("doctor", doctor_ws, red).await;
        let pat = join_with(
            "patient",
            patient_ws,
            JoinOpts {
                red: patient_red,
                ..Default::default()
            },
        )
        .await;
        wait_until(
            &app,
            "the doctor and the patient hear each other",
            Duration::from_secs(5),
            &[&doc, &pat],
            || doc.hears("patient") && pat.hears("doctor"),
        )
        .await;
        let (heard, _) = pat.from("doctor");
        let (pt, payload) = heard.last_audio;
        if patient_red {
            // The whole RED packet: a redundant block's header, the primary's, both frames.
            assert_ne!(pt, 0);
            assert_eq!(payload[0] & 0x80, 0x80, "{payload:?}");
            assert!(payload.ends_with(&OPUS_FRAME), "{payload:?}");
            assert_eq!(payload.len(), 4 + 1 + 2 + OPUS_FRAME.len(), "{payload:?}");
        } else {
            // The primary frame alone, on the patient's Opus payload type.
            assert_eq!(payload, OPUS_FRAME.to_vec(), "pt {pt}");
            assert_eq!(Some(pt), opus_pt_of(&pat), "{}", pat.report());
        }
        // The patient's own audio reaches the doctor as it was sent.
        let (heard, _) = doc.from("patient");
        if patient_red {
            assert!(heard.last_audio.1.ends_with(&OPUS_FRAME));
        } else {
            assert_eq!(heard.last_audio.1, OPUS_FRAME.to_vec());
        }
    }
}

/// The payload type a peer's audio arrived on when it was plain Opus: the one the SFU
/// answered for Opus, read back from what the peer's first tile received.
fn opus_pt_of(p: &Peer) -> Option<u8> {
    p.shared.lock().unwrap().opus_pt
}

// The video call through tsunagu's SFU, in three real Chromium pages with fake devices: the
// doctor (PC), the patient (phone) and a family member (phone). Each page proves through
// getStats() that it decodes the others' video and receives their audio; mute and camera-off
// reach the others; the patient's page is reloaded mid-call and comes back into the same
// visit; the doctor withdraws the guest and their media stops at once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launch, PHONE, PC, SHOTS, assertNoHorizontalScroll, staffLogin, staffLoginEnrolling } from './support.mjs';

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launch([
    '--use-fake-device-for-media-stream',
    '--use-fake-ui-for-media-stream',
    '--autoplay-policy=no-user-gesture-required',
    '--disable-features=WebRtcHideLocalIpsWithMdns',
  ]);
});

after(async () => {
  if (process.env.CALL_LOG) console.log(server.log().split('\n').filter((l) => l.includes('DEBUG')).slice(0, 30).join('\n'));
  await browser?.close();
  server?.proc.kill('SIGTERM');
});

// What a page receives, per participant key: video frames decoded, audio samples received.
async function received(page) {
  return page.evaluate(async () => {
    const call = window.tsunaguCall;
    if (!call || !call.pc()) return {};
    const byMid = {};
    (await call.pc().getStats()).forEach((s) => {
      if (s.type === 'inbound-rtp') byMid[s.mid] = s;
    });
    const out = {};
    for (const t of call.tiles()) {
      out[t.key] = {
        frames: (byMid[t.video_mid] && byMid[t.video_mid].framesDecoded) || 0,
        samples: (byMid[t.audio_mid] && byMid[t.audio_mid].totalSamplesReceived) || 0,
        audioPackets: (byMid[t.audio_mid] && byMid[t.audio_mid].packetsReceived) || 0,
        audioLevel: (byMid[t.audio_mid] && byMid[t.audio_mid].audioLevel) || 0,
      };
    }
    return out;
  });
}

// Waits until the page decodes video and receives audio from `count` others, with the frame
// count still rising two seconds later.
async function assertMediaFrom(page, count, who) {
  const deadline = Date.now() + 30000;
  let r = {};
  while (Date.now() < deadline) {
    r = await received(page);
    const ok = Object.values(r).filter((x) => x.frames > 0 && x.samples > 0);
    if (ok.length >= count) break;
    await page.waitForTimeout(500);
  }
  const ok = Object.entries(r).filter(([, x]) => x.frames > 0 && x.samples > 0);
  if (ok.length < count) {
    // Every page's view of the call, and the server's log of it, to tell why.
    const states = [];
    for (const [name, pg] of Object.entries(pages)) states.push(`${name}: ${await callState(pg)}`);
    const log = server.log().split('\n').filter((l) => /rtc|media|offer|WARN|ERROR/.test(l)).slice(-40).join('\n');
    assert.fail(`${who} receives ${count} others: ${JSON.stringify(r)}\n${states.join('\n')}\n${log}`);
  }
  await page.waitForTimeout(2000);
  const later = await received(page);
  for (const [key, x] of ok) {
    assert.ok(later[key] && later[key].frames > x.frames, `${who}: frames from ${key} keep coming`);
  }
  return Object.keys(later);
}

// The pages of the call by name, for the failure messages.
const pages = {};

async function callState(page) {
  return page.evaluate(() => {
    const pc = window.tsunaguCall && window.tsunaguCall.pc();
    const tiles = window.tsunaguCall ? window.tsunaguCall.tiles().map((t) => t.key) : [];
    return `${location.pathname} status=${document.querySelector('[data-call-status]')?.dataset.state} `
      + `pc=${pc && pc.connectionState}/${pc && pc.iceConnectionState} tiles=${tiles}`;
  }).catch((e) => `unreadable: ${e}`);
}

function watchErrors(page, errors) {
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('response', (r) => { if (r.status() >= 500) errors.push(`${r.status()} ${r.url()}`); });
}

test('doctor, patient and family see and hear each other; mute, reload and removal', async () => {
  const errors = [];
  // The clerk creates a call for now; the doctor opens it and invites the patient's daughter.
  const cctx = await browser.newContext(PC);
  const c = await cctx.newPage();
  await staffLogin(c, server.base, 'sapporo-hikari', 'clerk');
  await c.goto(`${server.base}/staff/visits/new`);
  await c.check('input[name=now]');
  await c.fill('#title', '再診 ビデオ通話');
  await c.check('input[name=send][value=none]');
  await Promise.all([c.waitForURL(/\/staff\/visits\/\d+/), c.click('button[data-send-submit]')]);
  const id = c.url().match(/visits\/(\d+)/)[1];
  await c.goto(`${server.base}/staff/visits/${id}?show=1`);
  const patientUrl = await c.inputValue('#patient-url');
  await cctx.close();

  const dctx = await browser.newContext(PC);
  const d = await dctx.newPage();
  pages.doctor = d;
  watchErrors(d, errors);
  // Doctors sign in with a second factor: the demo's enrolment on first sign-in.
  await staffLoginEnrolling(d, server.base, 'sapporo-hikari', 'doctor');
  await d.goto(`${server.base}/staff/visits/${id}`);
  await d.fill('#guest_name', '山田 花子');
  await d.selectOption('#guest_role', 'family');
  await Promise.all([d.waitForURL(/done=invited/), d.click('#guests button[type=submit]:not(.danger)')]);
  const guestUrl = await d.inputValue('#guest-url');

  const pctx = await browser.newContext(PHONE);
  const p = await pctx.newPage();
  pages.patient = p;
  watchErrors(p, errors);
  await p.goto(`${patientUrl}?room=1`);
  await p.locator('#visit-state[data-room-connected="1"]').waitFor({ timeout: 10000 });
  const gctx = await browser.newContext(PHONE);
  const g = await gctx.newPage();
  pages.guest = g;
  watchErrors(g, errors);
  await g.goto(guestUrl);
  await g.locator('#visit-state[data-room-connected="1"]').waitFor({ timeout: 10000 });

  // The doctor starts: every page follows into the call; the doctor lets the guest in.
  await d.goto(`${server.base}/staff/visits/${id}`);
  await Promise.all([d.waitForURL(/\/staff\/visits\/\d+/), d.click('form[action$="/start"] button.primary')]);
  await d.locator('[data-call]').waitFor({ timeout: 10000 });
  await p.locator('[data-call]').waitFor({ timeout: 10000 });
  await Promise.all([d.waitForURL(/admit|visits\/\d+/), d.click('form[action*="/admit"] button')]);
  await g.locator('[data-call]').waitFor({ timeout: 10000 });

  await assertMediaFrom(d, 2, 'doctor');
  await assertMediaFrom(p, 2, 'patient');
  const guestSees = await assertMediaFrom(g, 2, 'guest');
  assert.ok(guestSees.includes('patient') && guestSees.some((k) => k.startsWith('doctor:')), `guest sees ${guestSees}`);
  // Active speaker: the fake microphones beep, so someone is outlined as speaking.
  await d.locator('.call-tile.speaking').first().waitFor({ timeout: 15000 });
  await assertNoHorizontalScroll(p, assert);
  await assertNoHorizontalScroll(g, assert);
  await p.screenshot({ path: `${SHOTS}phone-40-call-patient.png`, fullPage: true });
  await g.screenshot({ path: `${SHOTS}phone-41-call-guest.png`, fullPage: true });
  await d.screenshot({ path: `${SHOTS}pc-40-call-doctor.png`, fullPage: true });

  // The patient mutes and turns the camera off: the doctor's tile of them says so.
  await p.click('[data-call-mic]');
  await p.click('[data-call-cam]');
  const tile = d.locator('.call-tile[data-key="patient"]');
  await d.waitForFunction(() => {
    const t = document.querySelector('.call-tile[data-key="patient"]');
    return t && t.dataset.audio === 'off' && t.dataset.video === 'off';
  }, null, { timeout: 10000 });
  assert.match(await tile.textContent(), /カメラはオフです/);
  assert.match(await tile.textContent(), /マイクオフ/);
  await d.screenshot({ path: `${SHOTS}pc-41-call-patient-muted.png`, fullPage: true });

  // The patient's page is reloaded mid-call: it comes back into the same visit, on again.
  await p.reload();
  await p.locator('[data-call]').waitFor({ timeout: 10000 });
  await assertMediaFrom(p, 2, 'patient after reload');
  await d.waitForFunction(() => {
    const t = document.querySelector('.call-tile[data-key="patient"]');
    return t && t.dataset.audio === 'on' && t.dataset.video === 'on';
  }, null, { timeout: 10000 });
  await assertMediaFrom(d, 2, 'doctor after the patient reloaded');

  // The doctor withdraws the guest: their tile leaves the others' screens at once.
  d.on('dialog', (x) => x.accept());
  await Promise.all([d.waitForURL(/done=revoked/), d.click('#guest-list button.danger')]);
  await p.waitForFunction(() => !document.querySelector('.call-tile[data-key^="guest:"]'), null, { timeout: 10000 });
  await d.waitForFunction(() => !document.querySelector('.call-tile[data-key^="guest:"]'), null, { timeout: 10000 });
  await g.waitForFunction(() => /取り消されました/.test(document.body.textContent), null, { timeout: 10000 });

  // Four people: the doctor lets in an interpreter and a specialist. On the patient's phone
  // (three tiles on two columns) the one speaking goes first, across the whole width.
  const joined = [];
  for (const [name, role] of [['通訳 リン', 'interpreter'], ['専門医 佐藤', 'specialist']]) {
    await d.goto(`${server.base}/staff/visits/${id}`);
    await d.fill('#guest_name', name);
    await d.selectOption('#guest_role', role);
    await Promise.all([d.waitForURL(/done=invited/), d.click('#guests button[type=submit]:not(.danger)')]);
    const url = await d.inputValue('#guest-url');
    const ctx = await browser.newContext(PHONE);
    const page = await ctx.newPage();
    pages[role] = page;
    watchErrors(page, errors);
    await page.goto(url);
    await page.locator('#visit-state[data-room-connected="1"]').waitFor({ timeout: 10000 });
    await d.goto(`${server.base}/staff/visits/${id}`);
    await Promise.all([d.waitForURL(/admit|visits\/\d+/), d.click('form[action*="/admit"] button')]);
    await page.locator('[data-call]').waitFor({ timeout: 10000 });
    joined.push(ctx);
  }
  await assertMediaFrom(p, 3, 'patient among four');
  // The fake microphones all beep, so the speaker moves around, the patient included (who
  // has no tile here): the last other speaker stays featured meanwhile.
  await p.locator('.call-tiles[data-count="3"] .call-tile.featured').waitFor({ timeout: 15000 });
  const layout = await p.evaluate(() => {
    const grid = document.querySelector('.call-tiles').getBoundingClientRect();
    const tiles = [...document.querySelectorAll('.call-tile')].map((t) => ({ featured: t.classList.contains('featured'), ...t.getBoundingClientRect().toJSON() }));
    return { grid: grid.toJSON(), tiles };
  });
  const big = layout.tiles.find((t) => t.featured);
  assert.ok(Math.abs(big.width - layout.grid.width) < 2, `the speaker spans the grid: ${JSON.stringify(layout)}`);
  assert.ok(layout.tiles.every((t) => t.featured || t.top > big.top), `the speaker comes first: ${JSON.stringify(layout)}`);
  assert.ok(layout.tiles.filter((t) => !t.featured).every((t) => t.width < layout.grid.width / 2 + 1), `the others share a row: ${JSON.stringify(layout)}`);
  await assertNoHorizontalScroll(p, assert);
  await p.screenshot({ path: `${SHOTS}phone-42-call-four-patient.png`, fullPage: true });
  assert.deepEqual(errors, []);
  await Promise.all([dctx.close(), pctx.close(), gctx.close(), ...joined.map((x) => x.close())]);
});

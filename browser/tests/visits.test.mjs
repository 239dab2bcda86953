// Video visits in the browser: a clerk creates a video-call URL for now without sending it;
// a patient on a phone opens it, the pre-call check runs by itself (camera preview, level
// meter, connection verdict) and leads to the waiting room with a self view; a patient who
// refused the camera gets the way to allow it for their own device, a retry, and can still go
// on; without script the check says JavaScript is needed and the waiting room still opens;
// a member enters from their booking (the admin let them in any time before) and the
// reception list shows them arrive and leave without being reloaded.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launch, PHONE, PC, SHOTS, assertNoHorizontalScroll, staffLogin, staffLoginEnrolling, patientLogin, bookReturnVisit } from './support.mjs';

// Chromium's fake camera (a moving test pattern) and microphone (a beep).
const FAKE_DEVICES = '--use-fake-device-for-media-stream';
const AUTOPLAY = '--autoplay-policy=no-user-gesture-required';
const ANDROID_UA = 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36';

let server;
let browser; // permission prompts answered "allow"
let refusing; // no prompt answering: what a context is not granted is refused

before(async () => {
  server = await startServer();
  browser = await launch([FAKE_DEVICES, '--use-fake-ui-for-media-stream', AUTOPLAY]);
  refusing = await launch([FAKE_DEVICES, AUTOPLAY]);
});

after(async () => {
  await browser?.close();
  await refusing?.close();
  server?.proc.kill('SIGTERM');
});

// A clerk at さっぽろ光クリニック creates a video call starting now, 「送信しない」, and reads
// the patient URL on the staff page (?show=1). Answers the URL's path.
async function createVisitNow() {
  const ctx = await browser.newContext(PC);
  const page = await ctx.newPage();
  await staffLogin(page, server.base, 'sapporo-hikari', 'clerk');
  await page.goto(`${server.base}/staff/visits/new`);
  await page.check('input[name=now]');
  await page.fill('#title', '初診 ブラウザ確認');
  await page.check('input[name=send][value=none]');
  await Promise.all([page.waitForURL(/\/staff\/visits\/\d+/), page.click('button[data-send-submit]')]);
  const id = page.url().match(/visits\/(\d+)/)[1];
  await page.goto(`${server.base}/staff/visits/${id}?show=1`);
  const url = await page.inputValue('#patient-url');
  await ctx.close();
  return new URL(url).pathname;
}

// The waiting room stays put once the patient is in: their own arrival (and the leaving of
// the page they came from) must not reload it, let alone in a loop.
async function assertStaysPut(page) {
  let reloads = 0;
  const count = (f) => { if (f === page.mainFrame()) reloads += 1; };
  page.on('framenavigated', count);
  await page.waitForTimeout(3000);
  page.off('framenavigated', count);
  assert.equal(reloads, 0, 'the waiting room reloaded by itself');
}

test('the check runs by itself and leads to the waiting room with a self view', async () => {
  const path = await createVisitNow();
  const ctx = await browser.newContext({ ...PHONE, permissions: ['camera', 'microphone'] });
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`${m.text()} ${m.location().url}`); });
  page.on('response', (r) => { if (r.status() >= 400) errors.push(`${r.status()} ${r.url()}`); });
  const started = Date.now();
  await page.goto(`${server.base}${path}`);
  await page.locator('h1', { hasText: 'ビデオ通話の前の確認' }).waitFor();
  // The camera preview plays, the meter moves with the (fake) microphone's beeps.
  await page.waitForFunction(() => {
    const v = document.querySelector('#pc-video');
    return v && v.readyState >= 2 && v.videoWidth > 0 && !v.paused;
  }, null, { timeout: 20000 });
  await page.waitForFunction(() => parseFloat(document.querySelector('#pc-level').dataset.peak || '0') > 0.02, null, { timeout: 20000 });
  // The connection: a verdict in words and the measured figures.
  await page.locator('#pc-net[data-state=ok]').waitFor({ timeout: 60000 });
  assert.match(await page.textContent('#pc-verdict'), /通信は良好です/);
  assert.match(await page.textContent('#pc-net-detail'), /Mbps（目安は 2 Mbps 以上）・応答 \d+ ミリ秒/);
  // All done well within a minute, and the summary says so.
  await page.locator('[data-precheck][data-done]').waitFor({ timeout: 60000 });
  assert.ok(Date.now() - started < 60000, 'the check takes under a minute');
  assert.equal(await page.getAttribute('#pc-summary', 'data-state'), 'ok');
  assert.match(await page.textContent('#pc-summary'), /準備ができています/);
  assert.equal(await page.getAttribute('#pc-camera', 'data-state'), 'ok');
  assert.match(await page.textContent('#pc-camera .pc-word'), /問題ありません/);
  assert.equal(await page.getAttribute('#pc-mic', 'data-state'), 'ok');
  assert.ok(await page.isHidden('#pc-allow'));
  assert.ok(await page.isHidden('#pc-retry'), 'nothing to retry');
  assert.ok(await page.isVisible('#pc-go-top'), 'the way on, without scrolling');
  // The speaker test: a tone, and what to do if it was not heard.
  await page.click('#pc-tone');
  await page.locator('#pc-tone-help').waitFor();
  assert.match(await page.textContent('#pc-tone-help'), /音量を上げてください/);
  await assertNoHorizontalScroll(page, assert);
  await page.screenshot({ path: `${SHOTS}phone-30-precheck.png`, fullPage: true });
  // 「待合室へ進む」: the waiting room, in the room (its socket), the patient's own picture.
  await Promise.all([page.waitForURL(/\?room=1$/), page.click('#pc-go')]);
  assert.match(await page.textContent('#visit-state'), /診察はまだ始まっていません/);
  await page.locator('#visit-state[data-room-connected="1"]').waitFor({ timeout: 10000 });
  await assertStaysPut(page);
  await page.waitForFunction(() => {
    const box = document.querySelector('[data-self-view]');
    const v = box && box.querySelector('video');
    return box && !box.hidden && v.readyState >= 2 && v.videoWidth > 0;
  }, null, { timeout: 20000 });
  assert.match(await page.textContent('main'), /カメラとマイクをもう一度確認する/);
  await assertNoHorizontalScroll(page, assert);
  await page.screenshot({ path: `${SHOTS}phone-32-waiting.png`, fullPage: true });
  assert.deepEqual(errors, []);
  await ctx.close();
});

test('a refused camera gets the way to allow it, a retry, and can still go on', async () => {
  const path = await createVisitNow();
  const ctx = await refusing.newContext({ ...PHONE, userAgent: ANDROID_UA });
  const page = await ctx.newPage();
  await page.goto(`${server.base}${path}`);
  await page.locator('#pc-camera[data-state=ng]').waitFor({ timeout: 20000 });
  assert.equal(await page.getAttribute('#pc-mic', 'data-state'), 'ng');
  // The help names the patient's own device first, open; the others folded below.
  await page.locator('#pc-allow').waitFor();
  assert.match(await page.textContent('#pc-allow h2'), /カメラとマイクの使用が許可されていません/);
  const first = page.locator('#pc-howto details').first();
  assert.equal(await first.getAttribute('data-platform'), 'android');
  assert.ok(await first.evaluate((d) => d.open));
  assert.match(await first.textContent(), /「権限」または「サイトの設定」/);
  assert.ok(!(await page.locator('#pc-howto details[data-platform=ios]').evaluate((d) => d.open)));
  // The check still finishes; it says what failed, offers a retry and warns before going on.
  await page.locator('[data-precheck][data-done]').waitFor({ timeout: 60000 });
  assert.equal(await page.getAttribute('#pc-summary', 'data-state'), 'ng');
  assert.ok(await page.isVisible('#pc-retry'));
  assert.match(await page.textContent('#pc-retry'), /もう一度確認する/);
  assert.ok(await page.isVisible('#pc-go-warn'));
  assert.ok(await page.isVisible('#pc-go'));
  assert.ok(await page.isHidden('#pc-go-top'), 'only below the warning');
  await assertNoHorizontalScroll(page, assert);
  await page.screenshot({ path: `${SHOTS}phone-31-precheck-denied.png`, fullPage: true });
  // Allowed afterwards, 「もう一度確認する」 finds the camera.
  await ctx.grantPermissions(['camera', 'microphone'], { origin: server.base });
  await Promise.all([page.waitForEvent('load'), page.click('#pc-retry')]);
  await page.locator('#pc-camera[data-state=ok]').waitFor({ timeout: 20000 });
  assert.ok(await page.isHidden('#pc-allow'));
  await ctx.close();

  // Never stuck: refused and going on anyway reaches the waiting room, without a self view.
  const ctx2 = await refusing.newContext({ ...PHONE, userAgent: ANDROID_UA });
  const p2 = await ctx2.newPage();
  await p2.goto(`${server.base}${path}`);
  await p2.locator('#pc-camera[data-state=ng]').waitFor({ timeout: 20000 });
  await Promise.all([p2.waitForURL(/\?room=1$/), p2.click('#pc-go')]);
  await p2.locator('#visit-state[data-room-connected="1"]').waitFor({ timeout: 10000 });
  await assertStaysPut(p2);
  assert.ok(await p2.isHidden('[data-self-view]'));
  await ctx2.close();
});

test('without script the check says JavaScript is needed and the waiting room still opens', async () => {
  const path = await createVisitNow();
  const ctx = await browser.newContext({ ...PHONE, javaScriptEnabled: false });
  const page = await ctx.newPage();
  await page.goto(`${server.base}${path}`);
  assert.match(await page.textContent('main'), /JavaScript（ジャバスクリプト）が必要です/);
  assert.ok(await page.isHidden('[data-precheck]'));
  await Promise.all([page.waitForURL(/\?room=1$/), page.click('#pc-go')]);
  assert.match(await page.textContent('#visit-state'), /診察はまだ始まっていません/);
  await assertNoHorizontalScroll(page, assert);
  await ctx.close();
});

test('staff invite a family member, who waits in the room until let in', async () => {
  const sctx = await browser.newContext(PC);
  const s = await sctx.newPage();
  await staffLogin(s, server.base, 'sapporo-hikari', 'clerk');
  await s.goto(`${server.base}/staff/visits/new`);
  await s.check('input[name=now]');
  await s.fill('#title', 'ご家族同席');
  await s.check('input[name=send][value=none]');
  await Promise.all([s.waitForURL(/\/staff\/visits\/\d+/), s.click('button[data-send-submit]')]);
  await s.fill('#guest_name', '山田 花子');
  await s.selectOption('#guest_role', 'family');
  await Promise.all([s.waitForURL(/done=invited/), s.click('#guests button[type=submit]:not(.danger)')]);
  const link = await s.inputValue('#guest-url');
  await s.screenshot({ path: `${SHOTS}pc-33-visit-guests.png`, fullPage: true });
  const gctx = await browser.newContext(PHONE);
  const g = await gctx.newPage();
  await g.goto(link);
  assert.match(await g.textContent('main'), /医師が入室を許可するまで/);
  assert.match(await g.textContent('main'), /山田 花子（ご家族）/);
  await g.locator('#visit-state[data-room-connected="1"]').waitFor({ timeout: 10000 });
  await assertNoHorizontalScroll(g, assert);
  await g.screenshot({ path: `${SHOTS}phone-33-guest-waiting.png`, fullPage: true });
  // Withdrawn by the clinic: the guest's page says the link no longer works.
  s.on('dialog', (d) => d.accept());
  await Promise.all([s.waitForURL(/done=revoked/), s.click('#guest-list button.danger')]);
  await g.waitForFunction(() => /取り消されました/.test(document.body.textContent), null, { timeout: 10000 });
  await gctx.close();
  await sctx.close();
});

test('a member enters the waiting room from their booking and the reception list shows it live', async () => {
  // The admin lets members in any time before their start (C1).
  const sctx = await browser.newContext(PC);
  const s = await sctx.newPage();
  // Admins sign in with a second factor: the demo's enrolment on first sign-in.
  await staffLoginEnrolling(s, server.base, 'tsunagu-central', 'admin');
  await s.goto(`${server.base}/staff/settings`);
  await s.selectOption('#video_entry', 'any');
  await Promise.all([s.waitForURL(/settings#video-entry/), s.click('#video-entry button[type=submit]')]);
  assert.equal(await s.inputValue('#video_entry'), 'any');

  // 山田 太郎 books a return visit days away: the button is on the booking at once.
  const pctx = await browser.newContext({ ...PHONE, permissions: ['camera', 'microphone'] });
  const p = await pctx.newPage();
  await patientLogin(p, server.base, '090-0000-0001');
  const id = await bookReturnVisit(p, server.base);
  const enter = p.locator('a', { hasText: 'ビデオ通話画面へ進む' });
  await enter.waitFor();

  // Reception has that day's list open, the booking without anyone in the room.
  await s.goto(`${server.base}/staff/bookings/${id}`);
  await Promise.all([s.waitForURL(/reception\?date=/), s.click('#day-reception')]);
  const row = s.locator(`tr:has(a[href="/staff/bookings/${id}"])`);
  await row.waitFor();
  assert.doesNotMatch(await row.textContent(), /待合室/);
  let reloads = 0;
  s.on('framenavigated', (f) => { if (f === s.mainFrame()) reloads += 1; });

  // The patient goes through the check into the waiting room: the row says so by itself.
  await Promise.all([p.waitForURL(/visit/), enter.click()]);
  await p.locator('[data-precheck][data-done]').waitFor({ timeout: 60000 });
  await Promise.all([p.waitForURL(/\?room=1$/), p.click('#pc-go')]);
  await p.locator('#visit-state[data-room-connected="1"]').waitFor({ timeout: 10000 });
  await s.waitForFunction((sel) => /待合室 \d+分/.test(document.querySelector(sel)?.textContent || ''),
    `tr:has(a[href="/staff/bookings/${id}"])`, { timeout: 10000 });
  await s.screenshot({ path: `${SHOTS}pc-34-reception-arrived.png`, fullPage: true });
  await assertNoHorizontalScroll(p, assert);
  await p.screenshot({ path: `${SHOTS}phone-34-member-waiting.png`, fullPage: true });

  // The patient closes the page: the row shows when they left.
  await pctx.close();
  await s.waitForFunction((sel) => /退室 \d{1,2}:\d{2}/.test(document.querySelector(sel)?.textContent || ''),
    `tr:has(a[href="/staff/bookings/${id}"])`, { timeout: 15000 });
  assert.equal(reloads, 0, 'the reception list changed in place, without reloading');
  await sctx.close();
});

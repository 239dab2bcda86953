// Booking in the browser: a patient finds a clinic by prefecture, books for a family
// member, sees it on the top page, shares an image, cancels; staff book a patient with no
// account in-clinic and see it on the schedule and the reception list.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, launch, PHONE, PC, SHOTS, DEMO_PASSWORD, enrolTotp, assertNoHorizontalScroll, patientLogin, bookReturnVisit, staffLogin } from './support.mjs';

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  server?.proc.kill('SIGTERM');
});

// A small valid PNG (1×1, teal).
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNgaGj4DwAEgQJ/DWv1cQAAAABJRU5ErkJggg==', 'base64');

// The confirmation is always what is on the screen: choices changed after the times were
// listed (a family member, 再診) are the ones confirmed, with and without script.
for (const javaScriptEnabled of [true, false]) {
  test(`the confirmation follows the choices made after listing (script ${javaScriptEnabled ? 'on' : 'off'})`, async () => {
    const ctx = await browser.newContext({ ...PHONE, javaScriptEnabled });
    const page = await ctx.newPage();
    await page.goto(`${server.base}/login`);
    await page.fill('#phone', '090-0000-0001');
    await page.fill('#password', DEMO_PASSWORD);
    await page.click('button.primary');
    await page.waitForURL('**/my');
    await page.goto(`${server.base}/c/tsunagu-central`);
    await page.click('.cards a.button >> nth=0');
    await page.waitForURL(/\/c\/tsunagu-central\/book/);
    // Times are listed for the holder's first visit; now the child and 再診 are chosen.
    assert.ok(await page.locator('input[name=slot]').count() > 0);
    await page.check('input[name=patient] >> nth=1');
    if (javaScriptEnabled) {
      await Promise.all([page.waitForURL(/kind=return/), page.check('input[name=kind][value=return]')]);
    } else {
      await page.check('input[name=kind][value=return]');
      await page.locator('input[name=slot]').last().check();
      await page.click('#book-form button.primary');
      await page.waitForURL(/book\/confirm/);
      // Listed for 初診: the times are listed again for 再診, the choices kept.
      assert.match(await page.textContent('main'), /表示し直しました/);
      assert.ok(await page.isChecked('input[name=kind][value=return]'));
      assert.ok(await page.isChecked('input[name=patient] >> nth=1'));
    }
    await page.locator('input[name=slot]').last().check();
    await page.click('#book-form button.primary');
    await page.waitForURL(/book\/confirm/);
    const main = await page.textContent('main');
    assert.match(main, /山田 花子/);
    assert.match(main, /再診/);
    assert.doesNotMatch(main, /山田 太郎/);
    await page.screenshot({ path: `${SHOTS}phone-13b-confirm-follows-choice-${javaScriptEnabled ? 'js' : 'nojs'}.png`, fullPage: true });
    await ctx.close();
  });
}

test('a patient books for a family member, shares an image and cancels', async () => {
  const ctx = await browser.newContext(PHONE);
  const page = await ctx.newPage();
  await page.goto(`${server.base}/login`);
  await page.fill('#phone', '090-0000-0001');
  await page.fill('#password', DEMO_PASSWORD);
  await page.click('button.primary');
  await page.waitForURL('**/my');

  await page.goto(server.base);
  await page.selectOption('#pref', '13');
  await page.click('form[action="/clinics"] button');
  await page.waitForURL('**/clinics?pref=13');
  await page.screenshot({ path: `${SHOTS}phone-10-clinics.png`, fullPage: true });
  await page.click('a[href="/c/tsunagu-central"]');
  assert.match(await page.textContent('h1'), /つなぐ中央病院/);
  await page.screenshot({ path: `${SHOTS}phone-11-clinic.png`, fullPage: true });
  await page.click('.cards a.button >> nth=0');
  await page.waitForURL(/\/c\/tsunagu-central\/book/);
  // For the child, a return visit.
  await page.check('input[name=patient] >> nth=1');
  // Choosing the kind lists the times for it again by itself.
  await Promise.all([page.waitForURL(/kind=return/), page.check('input[name=kind][value=return]')]);
  await page.waitForLoadState();
  await assertNoHorizontalScroll(page, assert);
  await page.screenshot({ path: `${SHOTS}phone-12-slots.png`, fullPage: true });
  // The last offered time: days away, so still cancellable online whatever today is.
  const slots = page.locator('input[name=slot]');
  assert.ok(await slots.count() > 0, 'free slots are offered');
  await slots.last().check();
  await page.click('form[action="/c/tsunagu-central/book/confirm"] button.primary');
  await page.waitForURL(/book\/confirm/);
  assert.match(await page.textContent('main'), /山田 花子/);
  await page.screenshot({ path: `${SHOTS}phone-13-confirm.png`, fullPage: true });
  await page.click('button.primary');
  await page.waitForURL(/\/my\/bookings\/\d+\?done=booked/);
  await page.screenshot({ path: `${SHOTS}phone-14-booked.png`, fullPage: true });
  const bookingUrl = page.url().split('?')[0];

  await page.goto(server.base);
  assert.match(await page.textContent('main'), /あなたの予約/);
  assert.match(await page.textContent('main'), /山田 花子/);
  await page.screenshot({ path: `${SHOTS}phone-15-top.png`, fullPage: true });

  // Share an image from the booking detail.
  await page.goto(bookingUrl);
  const dir = mkdtempSync(join(tmpdir(), 'tsunagu-img-'));
  const file = join(dir, 'rash.png');
  writeFileSync(file, PNG);
  await page.setInputFiles('#images', file);
  await page.click('form[enctype="multipart/form-data"] button');
  await page.waitForURL(/done=images/);
  assert.equal(await page.locator('.thumbs img').count(), 1);
  await page.screenshot({ path: `${SHOTS}phone-16-image.png`, fullPage: true });

  // Cancel (the confirm dialog is accepted).
  page.once('dialog', (d) => d.accept());
  await page.click('form[action$="/cancel"] button');
  await page.waitForURL(/done=cancelled/);
  assert.match(await page.textContent('main'), /キャンセル済み/);
  await ctx.close();
});

test('staff book a patient with no account and see it on the schedule and reception list', async () => {
  const ctx = await browser.newContext(PC);
  const page = await ctx.newPage();
  await page.goto(`${server.base}/staff/login`);
  await page.fill('#facility', 'tsunagu-central');
  await page.fill('#login_id', 'nurse');
  await page.fill('#password', DEMO_PASSWORD);
  await page.click('button.primary');
  await page.waitForURL(/\/staff$/);
  await page.click('a[href="/staff/bookings/new"] >> nth=0').catch(async () => {
    await page.goto(`${server.base}/staff/bookings/new`);
  });
  if (!page.url().includes('/staff/bookings/new')) await page.goto(`${server.base}/staff/bookings/new`);
  await page.check('input[name=who][value=walk_in]');
  await page.fill('#name', '新橋 次郎');
  await page.fill('#chart_number', 'W-777');
  await page.check('input[name=kind][value=first]');
  // Tomorrow at 07:00: before opening hours (closed slots are allowed for staff).
  const tomorrow = new Date(Date.now() + 24 * 3600 * 1000 + 9 * 3600 * 1000).toISOString().slice(0, 10);
  await page.fill('#date', tomorrow);
  await page.fill('#time', '07:00');
  await page.fill('#memo', '娘さんが同席');
  await page.screenshot({ path: `${SHOTS}pc-10-walk-in.png`, fullPage: true });
  await page.click('button.primary');
  await page.waitForURL(/\/staff\/bookings\/\d+\?done=booked/);
  assert.match(await page.textContent('main'), /新橋 次郎/);

  await page.goto(`${server.base}/staff/reception?date=${tomorrow}`);
  assert.match(await page.textContent('main'), /新橋 次郎/);
  assert.match(await page.textContent('main'), /娘さんが同席/);
  await page.screenshot({ path: `${SHOTS}pc-11-reception.png`, fullPage: true });

  await page.goto(`${server.base}/staff/schedule?date=${tomorrow}`);
  assert.match(await page.textContent('main'), /新橋 次郎/);
  await page.screenshot({ path: `${SHOTS}pc-12-schedule.png`, fullPage: true });
  // The week is one days × times table that fits a PC screen, the walk-in in its column.
  await page.goto(`${server.base}/staff/schedule?date=${tomorrow}&view=week`);
  const week = page.locator('table.week');
  assert.match(await week.textContent(), /新橋 次郎/);
  const box = await week.boundingBox();
  assert.ok(box.height < 1600, `the week is ${box.height}px tall`);
  assert.ok(box.width <= 1366, `the week is ${box.width}px wide`);
  await page.screenshot({ path: `${SHOTS}pc-13-schedule-week.png`, fullPage: true });
  await ctx.close();
});

test('staff confirm a patient\'s insurance with the eligibility service and the patient sees it', async () => {
  const pctx = await browser.newContext(PHONE);
  const p = await pctx.newPage();
  await patientLogin(p, server.base, '090-0000-0002');
  // Register the seed's 新橋 太郎 card (valid in the demo eligibility data).
  await p.click('a[href^="/my/insurance/"] >> nth=0');
  await p.waitForURL(/\/my\/insurance\/\d+/);
  const insuranceUrl = p.url();
  await p.check('input[name=kind][value=card]');
  await p.fill('#insurer_number', '06139000');
  await p.fill('#symbol', '9000');
  await p.fill('#number', '10001');
  await p.fill('#branch', '01');
  const dir = mkdtempSync(join(tmpdir(), 'tsunagu-card-'));
  const file = join(dir, 'card.png');
  writeFileSync(file, PNG);
  await p.setInputFiles('#front', file);
  await p.setInputFiles('#back', file);
  await p.click('form[action^="/my/insurance/"] button.primary');
  await p.waitForLoadState();
  assert.match(await p.textContent('main'), /保険証の情報を保存しました/);
  // Book a return visit for herself.
  const bookingId = await bookReturnVisit(p, server.base);

  // The clinic's clerk checks it with the eligibility service.
  const sctx = await browser.newContext(PC);
  const s = await sctx.newPage();
  await staffLogin(s, server.base, 'tsunagu-central', 'clerk');
  await s.goto(`${server.base}/staff/bookings/${bookingId}`);
  await s.click('form[action$="/insurance/check"] button');
  await s.waitForLoadState();
  const result = await s.textContent('#insurance-check');
  assert.match(result, /資格確認の結果: 有効/);
  await s.screenshot({ path: `${SHOTS}pc-14-insurance-check.png`, fullPage: true });
  await sctx.close();

  await p.goto(insuranceUrl);
  assert.match(await p.textContent('main'), /保険資格が医療機関により確認されました/);
  await assertNoHorizontalScroll(p, assert);
  await p.screenshot({ path: `${SHOTS}phone-17-insurance-confirmed.png`, fullPage: true });
  await pctx.close();
});

test('staff edit a questionnaire question by question: add, move up, propose', async () => {
  const ctx = await browser.newContext(PC);
  const page = await ctx.newPage();
  await staffLogin(page, server.base, 'tsunagu-central', 'clerk');
  await page.goto(`${server.base}/staff/menus`);
  await page.click('table.grid a[href^="/staff/menus/"] >> nth=0');
  await page.waitForURL(/\/staff\/menus\/\d+$/);
  const visible = () => page.locator('[data-q-row]:visible');
  const before = await visible().count();
  await page.click('[data-q-add]');
  assert.equal(await visible().count(), before + 1, 'one more row');
  const last = visible().last();
  await last.locator('input[name$="_label"]').fill('最近の体重の変化');
  await last.locator('input[value="choice"]').check();
  await last.locator('textarea[name$="_choices"]').fill('増えた\n変わらない\n減った');
  await last.locator('[data-q-up]').click();
  const labels = await visible().locator('input[name$="_label"]').evaluateAll((els) => els.map((e) => e.value));
  const orders = await visible().locator('input[name$="_order"]').evaluateAll((els) => els.map((e) => e.value));
  assert.equal(labels.indexOf('最近の体重の変化'), labels.length - 2, 'moved up one place');
  assert.equal(orders[labels.length - 2], String(labels.length - 1), 'its position number follows');
  await page.screenshot({ path: `${SHOTS}pc-20-questionnaire-editor.png`, fullPage: true });
  await page.click('form[action^="/staff/menus/"] button.primary');
  await page.waitForURL(/done=proposed/);
  assert.match(await page.textContent('main'), /最近の体重の変化/);
  await ctx.close();
});

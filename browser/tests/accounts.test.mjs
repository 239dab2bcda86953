// Sign-up reading the SMS code from the dev outbox, login, family, logout (phone size);
// staff login with TOTP enrolment (PC size). Screenshots go to browser/screenshots/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launch, PHONE, PC, SHOTS, DEMO_PASSWORD, DEMO_ENROL_CODE, totp, enrolTotp, assertNoHorizontalScroll } from './support.mjs';

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

async function operatorPage() {
  const ctx = await browser.newContext(PC);
  const page = await ctx.newPage();
  await page.goto(`${server.base}/ops/login`);
  await page.fill('#login_id', 'ops');
  await page.fill('#password', DEMO_PASSWORD);
  await page.click('button.primary');
  await page.waitForURL('**/ops/totp');
  await enrolTotp(page);
  await page.waitForURL('**/ops');
  return page;
}

async function codeFromOutbox(ops, e164) {
  await ops.goto(`${server.base}/dev/outbox`);
  const row = ops.locator(`tr[data-to="${e164}"]`).first();
  const text = await row.locator('td.body').textContent();
  const m = text.match(/(\d{6})/);
  assert.ok(m, `no code in: ${text}`);
  return m[1];
}

test('a patient signs up with an SMS code, adds family, logs out and in', async () => {
  const ops = await operatorPage();
  const ctx = await browser.newContext(PHONE);
  const page = await ctx.newPage();

  await page.goto(server.base);
  await page.screenshot({ path: `${SHOTS}phone-01-home.png`, fullPage: true });
  await page.click('a[href="/signup"]');
  await page.fill('#phone', '03-1234-5678');
  await page.click('button.primary');
  await assert.doesNotReject(page.locator('.field-error').waitFor());
  assert.match(await page.locator('.field-error').textContent(), /携帯電話番号/);
  await page.screenshot({ path: `${SHOTS}phone-02-signup-error.png`, fullPage: true });

  await page.fill('#phone', '090-2345-6789');
  await page.click('button.primary');
  await page.waitForURL('**/signup/verify');
  await page.screenshot({ path: `${SHOTS}phone-03-code.png`, fullPage: true });
  const code = await codeFromOutbox(ops, '+819023456789');
  await page.fill('#code', code);
  await page.click('button.primary');
  await page.waitForURL('**/signup/profile');

  await page.fill('#family_name', '新橋');
  await page.fill('#given_name', '太郎');
  await page.fill('#family_name_kana', 'シンバシ');
  await page.fill('#given_name_kana', 'タロウ');
  await page.fill('#birth_date', '1954-03-26');
  await page.check('input[name=sex][value="1"]');
  await page.fill('#password', 'hashi-1954');
  await page.fill('#password_confirm', 'hashi-1954');
  await page.screenshot({ path: `${SHOTS}phone-04-profile.png`, fullPage: true });
  await page.check('input[name=agree]');
  await page.click('button.primary');
  await page.waitForURL('**/my?welcome=1');
  assert.match(await page.textContent('main'), /新橋 太郎/);
  await assertNoHorizontalScroll(page, assert);
  await page.screenshot({ path: `${SHOTS}phone-05-mypage.png`, fullPage: true });

  // Log out and back in with phone + password.
  await page.click('header form button');
  await page.goto(`${server.base}/login`);
  await page.fill('#phone', '09023456789');
  await page.fill('#password', 'hashi-1954');
  await page.click('button.primary');
  await page.waitForURL('**/my');

  await page.click('a[href="/my/family/new"]');
  await page.fill('#family_name', '新橋');
  await page.fill('#given_name', 'はな');
  await page.fill('#family_name_kana', 'シンバシ');
  await page.fill('#given_name_kana', 'ハナ');
  // Her birthday in 和暦, as a grandparent would say it: 令和2年5月5日. Typing a Western
  // date first and then the era date keeps only the latter (the two never disagree).
  await page.fill('#birth_date', '2019-01-01');
  await page.selectOption('#birth_era', '5');
  await page.fill('#birth_year', '2');
  await page.selectOption('#birth_month', '5');
  await page.selectOption('#birth_day', '5');
  assert.equal(await page.inputValue('#birth_date'), '');
  await assertNoHorizontalScroll(page, assert);
  await page.check('input[name=sex][value="2"]');
  await page.click('button.primary');
  await page.waitForURL('**/my?done=family');
  const people = await page.locator('ul.people li').allTextContents();
  assert.equal(people.length, 2);
  assert.match(people[1], /新橋 はな/);
  assert.match(people[1], /2020/, 'stored as 2020-05-05');
  await assertNoHorizontalScroll(page, assert);
  await page.screenshot({ path: `${SHOTS}phone-06-family.png`, fullPage: true });

  await page.click('header form button');
  await page.goto(`${server.base}/my`);
  assert.match(page.url(), /\/login$/);

  // The English switch keeps the user on the same page.
  await page.click('header a[lang=en]');
  assert.match(await page.textContent('h1'), /Log in/);
  await page.screenshot({ path: `${SHOTS}phone-07-login-en.png`, fullPage: true });
  await ctx.close();
});

test('a doctor logs in and must enrol TOTP first', async () => {
  const ctx = await browser.newContext(PC);
  const page = await ctx.newPage();
  await page.goto(`${server.base}/staff/login`);
  await page.fill('#facility', 'tsunagu-central');
  await page.fill('#login_id', 'doctor');
  await page.fill('#password', DEMO_PASSWORD);
  await page.click('button.primary');
  await page.waitForURL('**/staff/totp/enrol');
  // The password alone shows no secret: first the enrolment code from the admin.
  assert.equal(await page.locator('.qr svg').count(), 0);
  assert.match(await page.textContent('main'), /登録用コード/);
  await page.screenshot({ path: `${SHOTS}pc-01-totp-enrol-code.png`, fullPage: true });
  await page.fill('#enrol_code', DEMO_ENROL_CODE);
  await page.click('button[type=submit].primary');
  await page.waitForURL('**/staff/totp/enrol');
  assert.equal(await page.locator('.qr svg').count(), 1);
  await page.screenshot({ path: `${SHOTS}pc-01-totp-enrol.png`, fullPage: true });
  const secret = (await page.locator('code.secret').textContent()).trim();
  await page.fill('#code', totp(secret));
  await page.click('button[type=submit].primary');
  await page.waitForURL(/\/staff$/);
  assert.match(await page.textContent('h1'), /つなぐ中央病院/);
  await page.screenshot({ path: `${SHOTS}pc-02-staff-home.png`, fullPage: true });
  await page.click('a[href="/staff/patients"]');
  assert.match(await page.textContent('table'), /山田/);
  await page.screenshot({ path: `${SHOTS}pc-03-patients.png`, fullPage: true });
  await ctx.close();
});

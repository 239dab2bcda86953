// The eligibility service as seed 004 walks through it: the operating body declares an
// outage and a patient is recorded; after recovery the function opens for the institution;
// a general account is refused; a viewer searches 新橋太郎 / 昭和29年3月26日 / 男性 / 東京都,
// gets two hits, opens one, registers an inquiry number, downloads the XML, next patient.
// Then the same from a clinic on tsunagu: a visit during the outage is recorded with the
// patient's four facts and confirmed by them after recovery; and the operating body's
// screen for institutions and accounts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launch, PC, PHONE, SHOTS, DEMO_PASSWORD, assertNoHorizontalScroll, patientLogin, staffLogin, enrolTotp } from './support.mjs';

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

const CODE = '1310000011';

async function login(page, institution, loginId) {
  await page.goto(`${server.eligibility}/login`);
  await page.fill('#institution', institution);
  await page.fill('#login_id', loginId);
  await page.fill('#password', DEMO_PASSWORD);
  await page.click('button.primary');
  await page.waitForURL('**/menu');
}

function local(d) {
  const p = (n) => String(n).padStart(2, '0');
  const j = new Date(d.getTime() + 9 * 3600 * 1000);
  return `${j.getUTCFullYear()}-${p(j.getUTCMonth() + 1)}-${p(j.getUTCDate())}T${p(j.getUTCHours())}:${p(j.getUTCMinutes())}`;
}

test('outage, recovery, and the four-facts search', async () => {
  const opCtx = await browser.newContext(PC);
  const op = await opCtx.newPage();
  await login(op, '', 'jisshi');
  await op.goto(`${server.eligibility}/ops`);
  await op.click('form[action="/ops/outage"] button');
  await op.waitForURL(/\/ops\?done=/);

  const vCtx = await browser.newContext(PC);
  const viewer = await vCtx.newPage();
  await login(viewer, CODE, 'viewer');
  await viewer.fill('#label', '診察券 C-00101 新橋さん');
  await viewer.click('form[action="/outage-visits"] button');
  await viewer.waitForURL(/\/menu\?recorded=\d+/);
  assert.match(await viewer.textContent('main'), /障害時来院を記録しました/);
  await viewer.screenshot({ path: `${SHOTS}elig-01-outage.png`, fullPage: true });

  await op.click('form[action="/ops/outage"] button');
  await op.waitForURL(/\/ops\?done=/);
  await op.fill('#starts', local(new Date(Date.now() - 3600 * 1000)));
  await op.fill('#ends', local(new Date(Date.now() + 48 * 3600 * 1000)));
  await op.fill('#institutions', CODE);
  await op.fill('#notice', 'システム障害の復旧に伴い、緊急時医療情報・資格確認機能を開放しました。');
  await op.click('form[action="/ops/periods"] button');
  await op.waitForURL(/\/ops\?done=/);

  const gCtx = await browser.newContext(PC);
  const general = await gCtx.newPage();
  await login(general, CODE, 'general');
  await general.click('a[href="/emergency"]');
  assert.match(await general.textContent('main'), /医療情報閲覧アカウント又は管理アカウントのユーザIDでログインし直してください/);
  await general.screenshot({ path: `${SHOTS}elig-02-general-refused.png`, fullPage: true });

  await viewer.goto(`${server.eligibility}/menu`);
  assert.match(await viewer.textContent('main'), /緊急時医療情報・資格確認機能を開放しました/);
  await viewer.click('a[href="/emergency"]');
  await viewer.selectOption('#visit', { index: 1 });
  await viewer.fill('#name', '新橋太郎');
  await viewer.fill('input[name=birth_year]', '29');
  await viewer.fill('input[name=birth_month]', '3');
  await viewer.fill('input[name=birth_day]', '26');
  await viewer.check('input[name=sex][value="1"]');
  await viewer.fill('#address', '東京都');
  await viewer.click('button.primary');
  assert.match(await viewer.textContent('main'), /検索結果： 2 件/);
  await viewer.screenshot({ path: `${SHOTS}elig-03-list.png`, fullPage: true });
  await viewer.click('table a >> nth=0');
  await viewer.waitForURL(/\/emergency\/records\/\d+/);
  assert.match(await viewer.textContent('main'), /この資格は(有効|無効)です。/);
  // Seed 004: the number as text with 《編集》, then the input with 《登録》, then the dialog.
  await viewer.click('a[href$="?edit=1"]');
  await viewer.fill('#inquiry_number', 'Q-0001');
  await viewer.click('form[action$="/inquiry"] button');
  await viewer.waitForURL(/done=registered/);
  assert.match(await viewer.textContent('dialog.done'), /照会番号を登録しました/);
  await viewer.screenshot({ path: `${SHOTS}elig-04-detail.png`, fullPage: true });
  await viewer.click('dialog.done a');
  assert.equal(await viewer.textContent('#inquiry-number'), 'Q-0001');
  const [download] = await Promise.all([viewer.waitForEvent('download'), viewer.click('a[href$="/download"]')]);
  assert.match(download.suggestedFilename(), /qualification-\d+\.xml/);
  await viewer.click('a[href="/emergency/next"]');
  assert.equal(await viewer.inputValue('#name'), '');

  await op.goto(`${server.eligibility}/ops`);
  assert.match(await op.textContent('#monitoring'), /検索/);
  assert.match(await op.textContent('#monitoring'), /氏名: 新橋太郎/);
  await op.screenshot({ path: `${SHOTS}elig-05-monitoring.png`, fullPage: true });
  await Promise.all([opCtx.close(), vCtx.close(), gCtx.close()]);
});

test('a clinic records a visit during the outage and confirms it by four facts after recovery', async () => {
  // A patient who uses マイナ保険証 has come today: the clerk books the visit for her
  // (earlier times of today are open to staff, so this works at any hour).
  const pctx = await browser.newContext(PHONE);
  const p = await pctx.newPage();
  await patientLogin(p, server.base, '090-0000-0002');
  await p.click('a[href^="/my/insurance/"] >> nth=0');
  await p.waitForURL(/\/my\/insurance\/\d+/);
  await p.check('input[name=kind][value=myna]');
  await p.click('form[action^="/my/insurance/"] button.primary');
  await p.waitForLoadState();
  assert.match(await p.textContent('main'), /保存しました/);

  const sctx = await browser.newContext(PC);
  const s = await sctx.newPage();
  await staffLogin(s, server.base, 'tsunagu-central', 'clerk');
  const today = new Date(Date.now() + 9 * 3600 * 1000).toISOString().slice(0, 10);
  await s.goto(`${server.base}/staff/bookings/new`);
  await s.check('input[name=who][value=member]');
  // The caller gives the number and the birth date of the person to be seen.
  await s.fill('#member_phone', '090-0000-0002');
  await s.fill('#member_birth_date', '1992-11-03');
  await s.check('input[name=kind][value=return]');
  await s.fill('#date', today);
  await s.fill('#time', '00:05');
  await s.click('button.primary');
  await s.waitForURL(/\/staff\/bookings\/\d+\?done=booked/);
  const bookingId = s.url().match(/bookings\/(\d+)/)[1];
  // She has not shared her record with this clinic: it shows the booking, not her insurance.
  assert.match(await s.textContent('#not-shared'), /共有するまで表示されません/);

  // She was told by SMS; on the booking she shares her record with the clinic.
  await p.goto(`${server.base}/my/bookings/${bookingId}`);
  assert.match(await p.textContent('#share'), /共有するまで/);
  await assertNoHorizontalScroll(p, assert);
  await p.screenshot({ path: `${SHOTS}phone-14b-share-with-clinic.png`, fullPage: true });
  await p.click('#share button');
  await p.waitForURL(/done=shared/);
  assert.match(await p.textContent('main'), /共有しました/);
  await s.reload();
  assert.equal(await s.locator('#not-shared').count(), 0);

  // The national system goes down.
  const opCtx = await browser.newContext(PC);
  const op = await opCtx.newPage();
  await login(op, '', 'jisshi');
  await op.goto(`${server.eligibility}/ops`);
  await op.click('form[action="/ops/outage"] button');
  await op.waitForURL(/\/ops\?done=/);
  assert.match(await op.textContent('main'), /システム障害中/);

  // The clerk records the visit with the facts the patient states.
  await s.goto(`${server.base}/staff/bookings/${bookingId}`);
  await s.click('#outage-visit summary');
  await s.fill('#ov-name', '新橋　太郎');
  await s.fill('#ov-kana', '');
  await s.fill('#ov-birth', '1954-03-26');
  await s.selectOption('#ov-sex', '1');
  await s.fill('#ov-address', '東京都');
  await s.click('form[action$="/insurance/outage-visit"] button');
  await s.waitForURL(/done=outage/);
  assert.match(await s.textContent('main'), /障害時来院として記録しました/);
  await s.screenshot({ path: `${SHOTS}pc-15-outage-visit.png`, fullPage: true });

  // Recovery; the operating body opens the period for the clinic's institution.
  await op.click('form[action="/ops/outage"] button');
  await op.waitForURL(/\/ops\?done=/);
  await op.fill('#starts', local(new Date(Date.now() - 3600 * 1000)));
  await op.fill('#ends', local(new Date(Date.now() + 48 * 3600 * 1000)));
  await op.fill('#institutions', CODE);
  await op.fill('#notice', '復旧に伴い緊急時医療情報・資格確認機能を開放しました。');
  await op.click('form[action="/ops/periods"] button');
  await op.waitForURL(/\/ops\?done=/);

  // Two records match the seed's 新橋 太郎: the clerk picks the patient's own.
  await s.click('form[action$="/insurance/four-facts"] button');
  await s.waitForLoadState();
  assert.match(await s.textContent('#four-facts-candidates'), /昭和29年3月26日/);
  await s.screenshot({ path: `${SHOTS}pc-16-four-facts-candidates.png`, fullPage: true });
  await s.click('#four-facts-candidates button >> nth=0');
  await s.waitForLoadState();
  assert.match(await s.textContent('#booking-checks'), /4情報（方法3）/);
  await s.screenshot({ path: `${SHOTS}pc-17-four-facts-confirmed.png`, fullPage: true });
  // The same page holds on a phone-sized screen.
  const mctx = await browser.newContext({ ...PHONE, storageState: await sctx.storageState() });
  const m = await mctx.newPage();
  await m.goto(`${server.base}/staff/bookings/${bookingId}`);
  await assertNoHorizontalScroll(m, assert);
  await m.screenshot({ path: `${SHOTS}phone-18-staff-booking-checks.png`, fullPage: true });

  // The patient sees that the clinic confirmed it.
  await p.goto(`${server.base}/my`);
  await p.click('a[href^="/my/insurance/"] >> nth=0');
  assert.match(await p.textContent('main'), /保険資格が医療機関により確認されました/);
  await p.goto(`${server.base}/my/bookings/${bookingId}`);
  assert.match(await p.textContent('#insurance-checked'), /保険資格が医療機関により確認されました/);
  await assertNoHorizontalScroll(p, assert);
  await p.screenshot({ path: `${SHOTS}phone-19-booking-insurance-confirmed.png`, fullPage: true });

  // The operating body's screen for institutions and accounts.
  await op.goto(`${server.eligibility}/ops/institutions`);
  await op.fill('#code', '1390000099');
  await op.fill('#iname', 'つなぐ新町診療所');
  await op.click('form[action="/ops/institutions"] button');
  await op.waitForLoadState();
  assert.match(await op.textContent('main'), /つなぐ新町診療所）を登録しました/);
  await op.selectOption('#institution', '1390000099');
  await op.selectOption('#role', 'viewer');
  await op.fill('#login_id', 'hanako');
  await op.fill('#display_name', '閲覧 花子');
  await op.fill('#password', 'tsunagu-first-2026');
  await op.click('form[action="/ops/accounts"] button');
  await op.waitForLoadState();
  assert.match(await op.textContent('main'), /「hanako」を発行しました/);
  await op.screenshot({ path: `${SHOTS}elig-06-institutions.png`, fullPage: true });
  await Promise.all([pctx.close(), opCtx.close(), sctx.close(), mctx.close()]);
});

test('a facility admin links the facility\'s own eligibility account', async () => {
  const ctx = await browser.newContext(PC);
  const page = await ctx.newPage();
  await page.goto(`${server.base}/staff/login`);
  await page.fill('#facility', 'tsunagu-north');
  await page.fill('#login_id', 'admin');
  await page.fill('#password', DEMO_PASSWORD);
  await page.click('button.primary');
  await page.waitForURL('**/staff/totp/enrol');
  await enrolTotp(page);
  await page.waitForURL(/\/staff$/);
  await page.goto(`${server.base}/staff/settings`);
  assert.match(await page.textContent('#eligibility'), /1110000022 \/ viewer/);
  await page.fill('#elig_institution', '1110000022');
  await page.fill('#elig_login_id', 'admin');
  await page.fill('#elig_password', 'not-the-password');
  await page.click('form[action="/staff/settings/eligibility"] button');
  await page.waitForLoadState();
  assert.match(await page.textContent('main'), /ログインできませんでした/);
  await page.fill('#elig_institution', '1110000022');
  await page.fill('#elig_login_id', 'admin');
  await page.fill('#elig_password', DEMO_PASSWORD);
  await page.click('form[action="/staff/settings/eligibility"] button');
  await page.waitForURL(/\/staff\/settings/);
  assert.match(await page.textContent('#eligibility'), /1110000022 \/ admin/);
  await page.locator('#eligibility').screenshot({ path: `${SHOTS}pc-18-eligibility-link.png` });
  await ctx.close();
});

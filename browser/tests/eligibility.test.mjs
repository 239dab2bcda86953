// The eligibility service as seed 004 walks through it: the operating body declares an
// outage and a patient is recorded; after recovery the function opens for the institution;
// a general account is refused; a viewer searches 新橋太郎 / 昭和29年3月26日 / 男性 / 東京都,
// gets two hits, opens one, registers an inquiry number, downloads the XML, next patient.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launch, PC, SHOTS, DEMO_PASSWORD } from './support.mjs';

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
  await op.waitForURL('**/ops');

  const vCtx = await browser.newContext(PC);
  const viewer = await vCtx.newPage();
  await login(viewer, CODE, 'viewer');
  await viewer.fill('#label', '診察券 C-00101 新橋さん');
  await viewer.click('form[action="/outage-visits"] button');
  assert.match(await viewer.textContent('main'), /障害時来院を記録しました/);
  await viewer.screenshot({ path: `${SHOTS}elig-01-outage.png`, fullPage: true });

  await op.click('form[action="/ops/outage"] button');
  await op.waitForURL('**/ops');
  await op.fill('#starts', local(new Date(Date.now() - 3600 * 1000)));
  await op.fill('#ends', local(new Date(Date.now() + 48 * 3600 * 1000)));
  await op.fill('#institutions', CODE);
  await op.fill('#notice', 'システム障害の復旧に伴い、緊急時医療情報・資格確認機能を開放しました。');
  await op.click('form[action="/ops/periods"] button');
  await op.waitForURL('**/ops');

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
  await viewer.fill('#inquiry_number', 'Q-0001');
  await viewer.click('form[action$="/inquiry"] button');
  assert.match(await viewer.textContent('main'), /照会番号を登録しました/);
  await viewer.screenshot({ path: `${SHOTS}elig-04-detail.png`, fullPage: true });
  const [download] = await Promise.all([viewer.waitForEvent('download'), viewer.click('a[href$="/download"]')]);
  assert.match(download.suggestedFilename(), /qualification-\d+\.xml/);
  await viewer.click('a[href="/emergency/next"]');
  assert.equal(await viewer.inputValue('#name'), '');

  await op.goto(`${server.eligibility}/ops`);
  assert.match(await op.textContent('main'), /search/);
  await op.screenshot({ path: `${SHOTS}elig-05-monitoring.png`, fullPage: true });
  await Promise.all([opCtx.close(), vCtx.close(), gCtx.close()]);
});

// Starts a fresh tsunagu (SQLite in a temp dir, demo data) and Debian's Chromium.
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { chromium } from 'playwright-core';

export const DEMO_PASSWORD = 'tsunagu-demo-2026';
export const SHOTS = new URL('../screenshots/', import.meta.url).pathname;
mkdirSync(SHOTS, { recursive: true });

async function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export async function startServer() {
  const bin = process.env.TSUNAGU_BIN;
  if (!bin) throw new Error('set TSUNAGU_BIN to the tsunagu binary');
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'tsunagu-browser-'));
  const eligPort = await freePort();
  const proc = spawn(bin, ['serve', '--listen', `127.0.0.1:${port}`, '--eligibility-listen', `127.0.0.1:${eligPort}`, '--data-dir', dataDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, TSUNAGU_LOG: process.env.TSUNAGU_LOG || 'warn', TSUNAGU_RTC__BIND: '0.0.0.0:0' },
  });
  let log = '';
  proc.stdout.on('data', (d) => { log += d; });
  proc.stderr.on('data', (d) => { log += d; });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    try {
      const r = await fetch(`${base}/healthz`);
      if (r.ok) return { base, eligibility: `http://127.0.0.1:${eligPort}`, proc, log: () => log };
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  proc.kill();
  throw new Error(`tsunagu did not start:\n${log}`);
}

export async function launch(extraArgs = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-gpu', '--no-first-run', ...extraArgs],
  });
}

export const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, locale: 'ja-JP' };
export const PC = { viewport: { width: 1366, height: 900 }, locale: 'ja-JP' };

// RFC 6238 TOTP (SHA-1, 6 digits, 30 s), as an authenticator app computes it.
export function totp(secretB32, at = Date.now()) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of secretB32.replace(/=+$/, '').toUpperCase()) {
    bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  }
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 1000 / 30)));
  const h = createHmac('sha1', Buffer.from(bytes)).update(counter).digest();
  const o = h[h.length - 1] & 0xf;
  const n = ((h[o] & 0x7f) << 24) | (h[o + 1] << 16) | (h[o + 2] << 8) | h[o + 3];
  return String(n % 1_000_000).padStart(6, '0');
}

// Enrols TOTP on the enrolment page shown after a password login and submits the code.
// The demo's one-time TOTP enrolment code (in a clinic, each person's own, from their admin).
export const DEMO_ENROL_CODE = 'DEMO2-ENR0L';

export async function enrolTotp(page) {
  // First the enrolment code the admin handed over; only then is the secret shown.
  await page.fill('#enrol_code', DEMO_ENROL_CODE);
  await page.click('button[type=submit].primary');
  await page.locator('code.secret').waitFor();
  const secret = (await page.locator('code.secret').textContent()).trim();
  await page.fill('#code', totp(secret));
  await page.click('button[type=submit].primary');
  return secret;
}

// Waits until the page's body no longer overflows the viewport horizontally.
export async function assertNoHorizontalScroll(page, assert) {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `page overflows horizontally by ${overflow}px`);
}

// A patient logs in with the demo password.
export async function patientLogin(page, base, phone) {
  await page.goto(`${base}/login`);
  await page.fill('#phone', phone);
  await page.fill('#password', DEMO_PASSWORD);
  await page.click('button.primary');
  await page.waitForURL('**/my');
}

// The logged-in patient books a return visit for herself at つなぐ中央病院, the last time
// offered (days away, so still changeable whatever today is); answers the booking id.
export async function bookReturnVisit(page, base) {
  await page.goto(`${base}/c/tsunagu-central`);
  await page.click('.cards a.button >> nth=0');
  await page.waitForURL(/\/c\/tsunagu-central\/book/);
  await page.check('input[name=patient] >> nth=0');
  // Choosing the kind lists the times for it again by itself.
  await Promise.all([page.waitForURL(/kind=return/), page.check('input[name=kind][value=return]')]);
  await page.waitForLoadState();
  await page.locator('input[name=slot]').last().check();
  await page.click('form[action="/c/tsunagu-central/book/confirm"] button.primary');
  await page.waitForURL(/book\/confirm/);
  await page.click('button.primary');
  await page.waitForURL(/\/my\/bookings\/\d+\?done=booked/);
  return page.url().match(/bookings\/(\d+)/)[1];
}

// A staff member without TOTP logs in to a facility.
export async function staffLogin(page, base, facility, login) {
  await page.goto(`${base}/staff/login`);
  await page.fill('#facility', facility);
  await page.fill('#login_id', login);
  await page.fill('#password', DEMO_PASSWORD);
  await page.click('button.primary');
  await page.waitForURL(/\/staff$/);
}

// A doctor or admin signs in the first time: password, then the demo's TOTP enrolment.
export async function staffLoginEnrolling(page, base, facility, login) {
  await page.goto(`${base}/staff/login`);
  await page.fill('#facility', facility);
  await page.fill('#login_id', login);
  await page.fill('#password', DEMO_PASSWORD);
  await page.click('button.primary');
  await page.waitForURL(/totp/);
  await enrolTotp(page);
  await page.waitForURL(/\/staff$/);
}

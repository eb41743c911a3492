// The browser simulator in real headless Chromium (Debian's), against the built dist/ served on
// loopback: config editing with inline errors, a simulated call seen on both legs, zones and
// media encryption (SRTP on one leg, clear on the other, a 488), a caller over TCP in the ladder, a batch with loss, export checked by the real `twoleg check`, import of a
// broken file. Screenshots of the
// main pages go to artifacts/screenshots/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFile, mkdir, writeFile } from 'node:fs/promises';
import { existsSync, statSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join, extname, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { chromium } from 'playwright-core';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const dist = join(root, 'dist');
const artifacts = join(root, 'artifacts/screenshots');
const types = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.css': 'text/css' };

let server;
let browser;
let page;
let base;

/// The twoleg binary the cargo tests built: the newer of the debug and release builds.
function twoleg() {
  const built = ['debug', 'release']
    .map((profile) => join(root, 'target', profile, 'twoleg'))
    .filter((path) => existsSync(path))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  if (built.length === 0) {
    throw new Error('target/{debug,release}/twoleg not found: run cargo build -p twoleg-runner first');
  }
  return built[0];
}

before(async () => {
  assert.ok(existsSync(join(dist, 'index.html')), 'dist/ is built (trunk build --release)');
  server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const file = join(dist, path === '/' ? 'index.html' : path);
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  base = `http://127.0.0.1:${server.address().port}/`;
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--no-first-run', '--disable-sync', '--disable-quic'],
  });
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1400, height: 900 } });
  page = await context.newPage();
  page.on('pageerror', (e) => console.error('page error:', e));
  await mkdir(artifacts, { recursive: true });
  await page.goto(base);
  await page.waitForSelector('nav');
  // The embedded default takes calls from loopback only (a zone `loopback`, the default zone
  // refusing): the zone tests below add their own zones, so that one goes and the default
  // zone accepts.
  await go('/zones');
  assert.equal(await page.inputValue('#zone-0-name'), 'loopback');
  assert.equal(await page.inputValue('#default-zone-calls'), 'refuse');
  await page.click('#zone-0-delete');
  await page.waitForFunction(() => !document.querySelector('#zone-0-name'));
  await page.selectOption('#default-zone-calls', 'accept');
});

after(async () => {
  await browser?.close();
  server?.close();
});

async function shot(name) {
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
}

async function go(hash) {
  await page.goto(`${base}#${hash}`);
  await page.waitForSelector('main h1');
}

/** The problems the config shows (none: an empty list). */
async function problems() {
  return page.$$eval('#config-problem-count', (els) => els.map((e) => e.textContent));
}

/** Resets the simulator and places `calls` calls with these behaviours; `setup` runs after the reset. */
async function placeCalls({ caller = 'hangup', callerMs, callee = 'answer', calleeMs, calls = 1, loss = 0, speed = 'max', setup } = {}) {
  await go('/simulator');
  await page.click('#sim-reset');
  if (setup) await setup();
  await page.selectOption('#sim-caller', caller);
  if (callerMs !== undefined) await page.fill('#sim-caller-ms', String(callerMs));
  await page.selectOption('#sim-callee', callee);
  if (calleeMs !== undefined) await page.fill('#sim-callee-ms', String(calleeMs));
  await page.fill('#sim-calls', String(calls));
  await page.fill('#sim-loss', String(loss));
  await page.selectOption('#sim-speed', speed);
  await page.click('#sim-place');
}

test('a TURN server with a bad port shows the error as you type, and saves once fixed', async () => {
  await go('/turn-servers');
  await page.fill('#turn-address', '127.0.0.2');
  await page.fill('#turn-port', '70000');
  await page.fill('#turn-username', 'alice');
  await page.fill('#turn-password', 'secret');
  await page.waitForSelector('text=70000 is not a port number');
  assert.equal(await page.isDisabled('#turn-save'), true, 'no saving with an error');
  await shot('turn-servers-error');
  await page.fill('#turn-port', '3478');
  await page.waitForSelector('text=70000 is not a port number', { state: 'detached' });
  await page.click('#turn-save');
  await page.waitForSelector('#turn-servers .turn-server-row');
  const row = await page.textContent('#turn-servers .turn-server-row');
  assert.match(row, /127\.0\.0\.2/);
  assert.match(row, /3478/);
  assert.match(row, /set/, 'the password shows only as set');
  assert.doesNotMatch(row, /secret/);
  await shot('turn-servers');
});

test('an answered call shows two legs under one tag, then goes to history', async () => {
  await placeCalls({ caller: 'never', speed: 'ten' });
  await shot('simulator');
  await go('/calls');
  await page.waitForFunction(() => document.querySelectorAll('#call-status tr.leg-row td.state').length === 2
    && [...document.querySelectorAll('#call-status tr.leg-row td.state')].every((td) => td.textContent === 'Confirmed'));
  const tags = await page.$$eval('#call-status tr.leg-row', (rows) => rows.map((r) => r.dataset.tag));
  assert.equal(tags.length, 2);
  assert.equal(tags[0], tags[1], 'both legs share the call tag');
  await shot('call-status');
  await page.click('#call-status button.disconnect');
  await page.waitForSelector('#no-calls');
  await go('/history');
  await page.waitForSelector(`#call-history tr.history-leg-row[data-tag="${tags[0]}"]`);
  const legs = await page.$$eval(`#call-history tr.history-leg-row[data-tag="${tags[0]}"]`, (rows) => rows.length);
  assert.equal(legs, 2);
  await shot('call-history');
  await page.click(`#call-history tr.history-leg-row[data-tag="${tags[0]}"] a`);
  await page.waitForSelector('#ladder tr.ladder-row');
  const ladder = await page.$$eval('#ladder tr.ladder-row', (rows) => rows.map((r) => r.textContent));
  assert.ok(ladder.some((t) => t.includes('INVITE')) && ladder.some((t) => t.includes('BYE')), ladder.join('\n'));
  assert.ok(ladder.some((t) => t.includes('A')) && ladder.some((t) => t.includes('B')));
  await shot('ladder');
});

test('a Best effort zone: the B2BUA takes the media and call history says so', async () => {
  await go('/zones');
  await page.click('#zone-add');
  await page.fill('#zone-0-peers', '127.0.0.1');
  await page.selectOption('#zone-0-mode', 'best_effort');
  await page.fill('#encryption-max-calls', '50');
  await page.dispatchEvent('#encryption-max-calls', 'change');
  await shot('zones');
  const problems = await page.$$eval('#config-problem-count', (els) => els.map((e) => e.textContent));
  assert.deepEqual(problems, [], 'the zone validates');
  await placeCalls();
  await go('/history');
  await page.waitForSelector('#call-history tr.history-leg-row td.media');
  const media = await page.$$eval('#call-history tr.history-leg-row td.media', (cells) => cells.map((c) => c.textContent));
  assert.ok(media.length >= 2, media.join('\n'));
  for (const text of media.slice(0, 2)) {
    assert.ok(text.startsWith('B2BUA: zone 1 (BestEffort)') && text.includes('clear RTP'), media.join('\n'));
  }
  await shot('history-media');
  await go('/zones');
  await page.click('#zone-0-delete');
  await page.waitForFunction(() => !document.querySelector('#zone-0-name'));
});

test('a Force encrypted callee zone: SRTP on leg B, clear RTP on leg A, in history and the ladder; a Force encrypted caller zone refuses a clear caller with 488', async () => {
  await go('/settings');
  await page.fill('#route-0-destination', '127.0.0.2:5070');
  await go('/zones');
  await page.click('#zone-add');
  await page.fill('#zone-0-peers', '127.0.0.2');
  await page.selectOption('#zone-0-mode', 'force_encrypted');
  const problems = await page.$$eval('#config-problem-count', (els) => els.map((e) => e.textContent));
  assert.deepEqual(problems, [], 'the zone validates');
  await placeCalls({ callerMs: 1000, setup: () => page.selectOption('#sim-callee-media', 'srtp') });
  assert.equal(await page.isDisabled('#sim-callee-media'), true, 'fixed while the simulator runs');
  await go('/history');
  await page.waitForSelector('#call-history tr.history-leg-row td.media');
  const media = await page.$$eval('#call-history tr.history-leg-row td.media', (cells) => cells.map((c) => c.textContent));
  const all = media.join('\n');
  assert.match(media[0], /^B2BUA: Default Zone \(Auto\); clear RTP, 5 in \/ 5 out$/, all);
  assert.match(media[1], /^B2BUA: zone 1 \(ForceEncrypted\); SRTP [A-Z0-9_]+, 5 in \/ 5 out$/, all);
  await page.click('#call-history tr.history-leg-row a');
  await page.waitForSelector('#ladder tr.ladder-row.media');
  const rows = await page.$$eval('#ladder tr.ladder-row', (trs) => trs.map((r) => ({
    leg: r.querySelector('td.leg').textContent, media: r.classList.contains('media'), text: r.textContent })));
  const texts = rows.map((r) => `${r.leg} ${r.text}`).join('\n');
  const mediaRows = rows.filter((r) => r.media);
  assert.equal(mediaRows.length, 20, `5 packets each way on each leg:\n${texts}`);
  assert.ok(mediaRows.filter((r) => r.leg === 'A').every((r) => /RTP seq=\d+/.test(r.text) && !r.text.includes('SRTP')), texts);
  assert.ok(mediaRows.filter((r) => r.leg === 'B').every((r) => /SRTP seq=\d+/.test(r.text)), texts);
  // Each leg's SDP as TwoLeg wrote it: SAVP with TwoLeg's key toward the callee, clear toward the caller.
  await page.click('#ladder tr.ladder-row.leg-B >> nth=0');
  const offer = await page.textContent('#ladder tr.message-text pre');
  assert.match(offer, /^INVITE /);
  assert.match(offer, /m=audio \d+ RTP\/SAVP 0/);
  assert.match(offer, /a=crypto:1 /);
  assert.match(offer, /o=twoleg /);
  await shot('ladder-media');

  // The caller's own zone Force encrypted: a clear offer is refused with 488 and no call.
  await go('/zones');
  await page.fill('#zone-0-peers', '127.0.0.1');
  await placeCalls({ callerMs: 1000 });
  await page.waitForSelector('#sim-refused tr.refused-row');
  const refused = await page.$$eval('#sim-refused tr.refused-row', (trs) => trs.map((r) => r.textContent));
  assert.equal(refused.length, 1, refused.join('\n'));
  assert.match(refused[0], /INVITE488media encryption is required/, refused.join('\n'));
  assert.match(await page.textContent('#sim-status'), /finished calls 0\b/);
  await shot('simulator-refused');
  await page.click('#sim-reset');
  await go('/zones');
  await page.click('#zone-0-delete');
  await page.waitForFunction(() => !document.querySelector('#zone-0-name'));
  await go('/settings');
  await page.fill('#route-0-destination', '127.0.0.1:5070');
});

test('a zone that checks credentials: the ladder shows the 407 round, a wrong password is refused, a refusing zone answers 403', async () => {
  await go('/zones');
  await page.click('#zone-add');
  await page.fill('#zone-0-name', 'phones');
  await page.fill('#zone-0-peers', '127.0.0.1');
  await page.selectOption('#zone-0-authentication', 'check_credentials');
  await page.waitForSelector('text=authentication.credentials lists none');
  await page.click('#credential-add');
  await page.fill('#credential-0-username', 'alice');
  await page.fill('#credential-0-password', 'wonderland');
  assert.deepEqual(await problems(), [], 'the zone and its user validate');
  assert.equal(await page.getAttribute('#credential-0-password', 'type'), 'password');
  await shot('zones-authentication');

  await placeCalls({ callerMs: 500, setup: () => page.selectOption('#sim-caller-credentials', 'right') });
  await page.waitForFunction(() => /finished calls 1\b/.test(document.querySelector('#sim-status')?.textContent ?? ''));
  await go('/history');
  const admissions = await page.$$eval('#call-history tr.history-leg-row td.admission', (tds) => tds.map((td) => td.textContent));
  assert.deepEqual(admissions, ['alice (credentials checked; phones)', '-'], 'the caller\'s row says who it authenticated as');
  await page.click('#call-history tr.history-leg-row a');
  await page.waitForSelector('#ladder tr.ladder-row');
  const ladder = await page.$$eval('#ladder tr.ladder-row', (trs) => trs.map((r) => r.textContent));
  const text = ladder.join('\n');
  const challenge = ladder.findIndex((row) => row.includes('407'));
  assert.ok(challenge > 0, text);
  assert.ok(ladder.slice(challenge + 1).some((row) => row.includes('INVITE')), `the INVITE again after the 407:\n${text}`);
  assert.ok(ladder.some((row) => row.includes('200')), text);
  await shot('ladder-407');

  await placeCalls({ callerMs: 500, setup: () => page.selectOption('#sim-caller-credentials', 'wrong') });
  await page.waitForFunction(() => [...document.querySelectorAll('#sim-refused tr.refused-row')]
    .some((r) => /INVITE407not authenticated: wrong password/.test(r.textContent)));
  let refused = await page.$$eval('#sim-refused tr.refused-row', (trs) => trs.map((r) => r.textContent));
  assert.ok(refused.some((row) => /INVITE407not authenticated: no credentials/.test(row)), refused.join('\n'));
  assert.match(await page.textContent('#sim-status'), /finished calls 0\b/);

  await go('/zones');
  await page.selectOption('#zone-0-calls', 'refuse');
  await placeCalls({ callerMs: 500 });
  await page.waitForFunction(() => [...document.querySelectorAll('#sim-refused tr.refused-row')]
    .some((r) => /INVITE403the zone refuses calls/.test(r.textContent)));
  await page.click('#sim-reset');
  await go('/zones');
  await page.click('#zone-0-delete');
  await page.click('#credential-0-delete');
  await page.waitForFunction(() => !document.querySelector('#zone-0-name') && !document.querySelector('#credential-0-username'));
  assert.deepEqual(await problems(), []);
});

test('a caller over TCP: the ladder shows leg A on its connection and leg B on UDP, nothing retransmitted', async () => {
  await placeCalls({ callerMs: 1000, setup: () => page.selectOption('#sim-caller-transport', 'tcp') });
  assert.equal(await page.isDisabled('#sim-caller-transport'), true, 'fixed while the simulator runs');
  await go('/history');
  await page.waitForSelector('#call-history tr.history-leg-row a');
  await page.click('#call-history tr.history-leg-row a');
  await page.waitForSelector('#ladder tr.ladder-row');
  const rows = await page.$$eval('#ladder tr.ladder-row', (trs) => trs.map((r) => ({
    leg: r.querySelector('td.leg').textContent, transport: r.querySelector('td.transport').textContent, text: r.textContent })));
  const texts = rows.map((r) => `${r.leg} ${r.transport} ${r.text}`).join('\n');
  assert.ok(rows.filter((r) => r.leg === 'A').every((r) => /^TCP #\d+$/.test(r.transport)), texts);
  assert.ok(rows.filter((r) => r.leg === 'B').every((r) => r.transport === 'UDP'), texts);
  assert.equal(rows.filter((r) => r.leg === 'A' && r.text.includes('INVITE')).length, 1, texts);
  assert.ok(rows.some((r) => r.leg === 'A' && r.text.includes('BYE')), texts);
  assert.ok(!texts.includes('retransmission'), texts);
  await shot('ladder-tcp');
  await go('/simulator');
  await page.click('#sim-reset');
});

test('a batch of 200 calls with 5% loss all reach history', async () => {
  await placeCalls({ callerMs: 1000, calleeMs: 100, calls: 200, loss: 5 });
  await page.waitForFunction(() => /finished calls 200\b/.test(document.querySelector('#sim-status')?.textContent ?? ''), null, { timeout: 120000 });
  await go('/history');
  assert.match(await page.textContent('#history-count'), /^200 calls ended/);
});

test('the simulator runs 1,000 calls as fast as possible', async () => {
  await placeCalls({ callerMs: 1000, calls: 1000 });
  await page.waitForFunction(() => /finished calls 1000\b/.test(document.querySelector('#sim-status')?.textContent ?? ''), null, { timeout: 120000 });
  const rate = await page.textContent('#sim-rate');
  console.log(`simulated calls in the page: ${rate.trim()}`);
  assert.match(rate, /calls\/s/);
});

test('export gives a file twoleg check accepts; a broken import shows every problem', async () => {
  await go('/config-file');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export')]);
  assert.equal(download.suggestedFilename(), 'twoleg.json');
  const exported = join(tmpdir(), `twoleg-export-${process.pid}.json`);
  await download.saveAs(exported);
  const text = await readFile(exported, 'utf8');
  assert.match(text, /"secret"/, 'the export carries the TURN password for the runner');
  const out = execFileSync(twoleg(), ['check', exported], { encoding: 'utf8' });
  assert.match(out, /valid: .* 1 TURN address\/port combination/);

  const broken = join(tmpdir(), `twoleg-broken-${process.pid}.json`);
  await writeFile(broken, JSON.stringify({ version: 1, routes: [{ destinaton: '127.0.0.1:5070' }], turn_servers: [{ address: 'nope', port: 70000 }] }));
  const before = await page.textContent('#config-json');
  await page.setInputFiles('#import', broken);
  await page.waitForSelector('#import-problems');
  const problems = await page.$$eval('.import-problem', (items) => items.map((i) => i.textContent));
  assert.ok(problems.some((p) => p.startsWith('routes[0].destinaton: unknown key; did you mean destination?')), problems.join('\n'));
  assert.ok(problems.some((p) => p.startsWith('turn_servers[0].port: 70000 is not a port number')), problems.join('\n'));
  assert.ok(problems.some((p) => p.startsWith('turn_servers[0].address:')), problems.join('\n'));
  assert.equal(await page.textContent('#config-json'), before, 'the working config is untouched');
  await shot('config-file');
});

test('a route over two destinations: the simulator shares calls between them and the settings page shows their health', async () => {
  await go('/settings');
  const original = await page.inputValue('#route-0-destination');
  await page.fill('#route-0-destination', '');
  await page.fill('#route-0-destinations', '127.0.0.1:5070 1 1, 127.0.0.1:5072 1 1');
  await page.fill('#route-0-ping-interval', '2');
  await page.dispatchEvent('#route-0-ping-interval', 'change');
  // A listener limit out of range shows its error; in range, none.
  await page.fill('#listener-0-max-cps', '2000000');
  await page.dispatchEvent('#listener-0-max-cps', 'change');
  await page.waitForSelector('text=is over 1,000,000; 0 means no limit');
  await page.fill('#listener-0-max-cps', '0');
  await page.dispatchEvent('#listener-0-max-cps', 'change');
  await page.waitForSelector('text=is over 1,000,000', { state: 'detached' });
  const problems = await page.$$eval('#config-problem-count', (els) => els.map((e) => e.textContent));
  assert.deepEqual(problems, [], 'the route validates');
  await placeCalls({ calls: 20, speed: 'max' });
  await page.waitForFunction(() => /finished calls 20\b/.test(document.querySelector('#sim-status')?.textContent ?? ''), null, { timeout: 60000 });
  await go('/settings');
  await page.waitForFunction(() => /127\.0\.0\.1:5072 up \([1-9]\d* calls/.test(document.querySelector('#route-0-health')?.textContent ?? ''));
  const health = await page.textContent('#route-0-health');
  assert.match(health, /127\.0\.0\.1:5070 up \([1-9]\d* calls, [1-9]\d* pings\)/, health);
  await shot('route-health');
  await page.fill('#route-0-destinations', '');
  await page.fill('#route-0-destination', original);
  await page.fill('#route-0-ping-interval', '0');
  await page.dispatchEvent('#route-0-ping-interval', 'change');
});

test('the working config survives a reload', async () => {
  await page.reload();
  await go('/turn-servers');
  await page.waitForSelector('#turn-servers .turn-server-row');
  await go('/lync');
  await shot('lync');
  await go('/settings');
  await shot('settings');
});

test('a simulated Lync call shows the TURN allocation in its ladder and relay candidates in the INVITE', async () => {
  await go('/config-file');
  await page.setInputFiles('#import', join(root, 'core/config/example.json'));
  await page.waitForSelector('#import-ok');
  // Health probes on, in the simulated engine too: a probe interval below 50 ms is refused.
  await go('/turn-servers');
  await page.fill('#turn-probe-interval', '10');
  await page.waitForSelector('text=10 ms is out of range; allowed are 50 to 3600000 ms');
  await page.fill('#turn-probe-interval', '1000');
  await page.waitForSelector('text=10 ms is out of range', { state: 'detached' });
  await placeCalls({
    callerMs: 1000,
    setup: async () => {
      await page.fill('#sim-uri', 'sip:bob@lync.example.com');
      await page.dispatchEvent('#sim-uri', 'change');
    },
  });
  await go('/history');
  await page.waitForSelector('#call-history tr.history-leg-row');
  const turn = await page.$$eval('#call-history tr.history-leg-row td.turn', (cells) => cells.map((c) => c.textContent));
  assert.equal(turn[0], '-', 'leg A is not the Lync leg');
  assert.match(turn[1], /^127\.0\.0\.[23]:34\d\d .*: relays 127\.0\.0\.[23]:\d+ \/ 127\.0\.0\.[23]:\d+$/, turn[1]);
  await page.click('#call-history tr.history-leg-row a');
  await page.waitForSelector('#ladder tr.ladder-row');
  const rows = await page.$$eval('#ladder tr.ladder-row', (trs) => trs.map((r) => ({
    text: r.textContent, legB: r.classList.contains('leg-B'), turn: r.classList.contains('leg-TURN') })));
  const texts = rows.map((r) => r.text);
  for (const step of ['Allocate request', 'Allocate error 401', 'Allocate success', 'Refresh (delete) request']) {
    assert.ok(rows.some((r) => r.turn && r.text.includes(step)), `${step} in the ladder:\n${texts.join('\n')}`);
  }
  assert.equal(rows.filter((r) => r.text.includes('Allocate success')).length, 2, 'an RTP and an RTCP relay');
  const granted = rows.findLastIndex((r) => r.text.includes('Allocate success'));
  const invite = rows.findIndex((r) => r.legB && r.text.includes('INVITE sip:bob@lync.example.com'));
  assert.ok(granted >= 0 && invite > granted, `the INVITE to Lync goes out after both relays are granted:\n${texts.join('\n')}`);
  await page.click(`#ladder tr.ladder-row.leg-B >> nth=0`);
  const sdp = await page.textContent('#ladder tr.message-text pre');
  assert.match(sdp, /^INVITE sip:bob@lync\.example\.com/);
  assert.match(sdp, /a=candidate:\d+ 1 UDP 16777215 127\.0\.0\.[23] \d+ typ relay raddr 127\.0\.0\.1 rport \d+/);
  assert.match(sdp, /a=candidate:\d+ 2 UDP 16777214 /);
  await shot('ladder-turn');
  await go('/turn-servers');
  const health = await page.$$eval('#turn-servers td.health', (cells) => cells.map((c) => c.textContent));
  assert.deepEqual(health, ['up', 'up']);
});

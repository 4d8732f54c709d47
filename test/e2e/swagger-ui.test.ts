/**
 * Swagger UI in a real browser: Debian's chromium, driven by playwright-core, opens /docs,
 * creates a fleet with "Try it out" and sees 201, and the fleet exists afterwards.
 *
 * The browser is required, not optional: without it the test fails and says how to get it
 * (CI installs it in .ci/run). FLEETSIM_CHROMIUM points at another Chromium or Chrome binary
 * (e.g. on macOS). The screenshot goes to .cache/screenshots/; with UPDATE_SCREENSHOTS=1 it
 * replaces docs/swagger-try-it-out.png, the one the docs show.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { projectRoot } from '../../src/kafka/project-root.js';
import { http, startApp, type TestApp } from '../support/app.js';
import { uniqueTopic } from '../support/kafka.js';

const CHROMIUM = process.env.FLEETSIM_CHROMIUM || '/usr/bin/chromium';
let t: TestApp;

before(async () => {
  t = await startApp({ KAFKA_TOPIC: uniqueTopic('e2e-swagger-ui') });
});
after(async () => t?.close());

test('Swagger UI: "Try it out" on POST /api/v1/fleets creates a fleet and shows 201', async () => {
  assert.ok(
    existsSync(CHROMIUM),
    `this test drives a real Chromium, and there is none at ${CHROMIUM}: ` +
      "install Debian's (apt-get install chromium; .ci/run does) or set FLEETSIM_CHROMIUM " +
      'to a Chromium or Chrome binary',
  );
  const profile = mkdtempSync(join(tmpdir(), 'fleetsim-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 1000 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    // The page must not reach beyond this server.
    const foreign: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(t.url) && !r.url().startsWith('data:')) foreign.push(r.url());
    });
    await page.goto(`${t.url}/docs`);
    const operation = page.locator('#operations-fleets-Fleet_create');
    await operation.locator('.opblock-summary').click();
    await operation.getByRole('button', { name: 'Try it out' }).click();
    const body = operation.locator('textarea.body-param__text');
    await body.fill(
      JSON.stringify({ name: 'Swagger Plant', deviceCount: 250, intervalMs: 5000 }, null, 2),
    );
    await operation.getByRole('button', { name: 'Execute' }).click();
    const status = operation.locator('.live-responses-table .response .response-col_status');
    await status.first().waitFor({ timeout: 15_000 });
    assert.equal((await status.first().innerText()).trim(), '201');
    const shown = await operation
      .locator('.live-responses-table pre.microlight')
      .first()
      .innerText();
    assert.match(shown, /"id": "swagger-plant"/);

    // The operation from its summary down to the server's response.
    const top = await operation.boundingBox();
    const end = await operation.locator('.live-responses-table').first().boundingBox();
    assert.ok(top && end);
    // Boxes are relative to the viewport, a full-page clip to the page.
    const scrolled = Number(await page.evaluate('window.scrollY'));
    const dir =
      process.env.UPDATE_SCREENSHOTS === '1'
        ? join(projectRoot(), 'docs')
        : join(projectRoot(), '.cache', 'screenshots');
    mkdirSync(dir, { recursive: true });
    await page.screenshot({
      path: join(dir, 'swagger-try-it-out.png'),
      fullPage: true,
      clip: {
        x: top.x,
        y: top.y + scrolled,
        width: top.width,
        height: end.y + end.height - top.y + 8,
      },
    });
    assert.deepEqual(foreign, [], 'Swagger UI loads nothing from elsewhere');
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
  const fleet = await http(t.url, 'GET', '/api/v1/fleets/swagger-plant');
  assert.equal(fleet.status, 200);
  assert.equal(fleet.body.deviceCount, 250);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OAuthTokenError, OAuthTokenProvider } from './oauth-token.js';

const SETTINGS = {
  tokenUrl: 'https://idp.example.com/token',
  clientId: 'fleetsim',
  clientSecret: 'the-secret',
  scope: 'kafka',
};

function fakeEndpoint(answers: Array<{ status: number; body: unknown }>) {
  const requests: Array<{ url: string; init: RequestInit }> = [];
  const fetchImpl = async (url: string, init: RequestInit) => {
    requests.push({ url, init });
    const a = answers[Math.min(requests.length - 1, answers.length - 1)];
    return new Response(JSON.stringify(a.body), { status: a.status });
  };
  return { requests, fetchImpl };
}

test('a client-credentials request with HTTP Basic; the token is reused until 80 % of its lifetime', async () => {
  let now = 1_000_000;
  const { requests, fetchImpl } = fakeEndpoint([
    { status: 200, body: { access_token: 'tok-1', expires_in: 3600 } },
    { status: 200, body: { access_token: 'tok-2', expires_in: 3600 } },
  ]);
  const provider = new OAuthTokenProvider(SETTINGS, fetchImpl, () => now);
  const [a, b] = await Promise.all([provider.token(), provider.token()]);
  assert.equal(a.value, 'tok-1');
  assert.equal(b.value, 'tok-1');
  assert.equal(requests.length, 1, 'concurrent callers share one request');
  assert.equal(a.expiresAt, 1_000_000 + 3_600_000);
  const init = requests[0].init;
  assert.equal(init.method, 'POST');
  assert.equal(init.body, 'grant_type=client_credentials&scope=kafka');
  const headers = init.headers as Record<string, string>;
  assert.equal(
    headers.authorization,
    `Basic ${Buffer.from('fleetsim:the-secret').toString('base64')}`,
  );
  now += 0.79 * 3_600_000;
  assert.equal((await provider.token()).value, 'tok-1');
  now += 0.02 * 3_600_000;
  assert.equal((await provider.token()).value, 'tok-2', 'fetched again before expiry');
  assert.equal(requests.length, 2);
});

test('a short-lived token is fetched again at least a fifth of its lifetime before expiry', async () => {
  let now = 0;
  const { requests, fetchImpl } = fakeEndpoint([
    { status: 200, body: { access_token: 't', expires_in: 60 } },
  ]);
  const provider = new OAuthTokenProvider(SETTINGS, fetchImpl, () => now);
  await provider.token();
  now = 47_000;
  await provider.token();
  assert.equal(requests.length, 1);
  now = 48_000;
  await provider.token();
  assert.equal(requests.length, 2);
});

test('a refused request names the endpoint, client and OAuth error, never the secret', async () => {
  const { fetchImpl } = fakeEndpoint([
    { status: 401, body: { error: 'invalid_client', error_description: 'bad credentials' } },
  ]);
  const provider = new OAuthTokenProvider(SETTINGS, fetchImpl);
  await assert.rejects(provider.token(), (err: Error) => {
    assert.ok(err instanceof OAuthTokenError);
    assert.equal(
      err.message,
      'OAuth token request to https://idp.example.com/token for client fleetsim was refused: HTTP 401 (invalid_client: bad credentials)',
    );
    assert.ok(!err.message.includes('the-secret'));
    return true;
  });
  const empty = new OAuthTokenProvider(
    SETTINGS,
    fakeEndpoint([{ status: 200, body: {} }]).fetchImpl,
  );
  await assert.rejects(empty.token(), /answered without an access_token/);
});

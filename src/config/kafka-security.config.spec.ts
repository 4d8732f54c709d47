import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadConfig } from './config.loader.js';
import { maskSecrets, SECRET_MASK } from './secrets.js';

const dir = mkdtempSync(join(tmpdir(), 'fleetsim-security-config-'));
const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n';

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems;
  }
  assert.fail('expected the configuration to be refused');
}

test('kafka.tls and kafka.sasl default to plaintext without authentication, verification on', () => {
  const { config } = loadConfig({});
  assert.equal(config.kafka.tls.enabled, false);
  assert.equal(config.kafka.tls.rejectUnauthorized, true);
  assert.equal(config.kafka.sasl.mechanism, 'none');
});

test('TLS material and the SASL password come from env or from *_FILE files', () => {
  const { config, sources } = loadConfig({
    KAFKA_TLS_ENABLED: 'true',
    KAFKA_TLS_CA_FILE: file('ca.pem', PEM),
    KAFKA_TLS_CERT: PEM,
    KAFKA_TLS_KEY_FILE: file('key.pem', KEY),
    KAFKA_TLS_SERVERNAME: 'kafka.example.com',
    KAFKA_SASL_MECHANISM: 'scram-sha-512',
    KAFKA_SASL_USERNAME: 'alice',
    KAFKA_SASL_PASSWORD_FILE: file('pw', ' s3cret with spaces \n'),
  });
  assert.equal(config.kafka.tls.ca, PEM.trimEnd());
  assert.equal(config.kafka.tls.cert, PEM.trim());
  assert.equal(config.kafka.tls.key, KEY.trimEnd());
  assert.equal(config.kafka.tls.servername, 'kafka.example.com');
  assert.equal(
    config.kafka.sasl.password,
    ' s3cret with spaces ',
    'only the final line break goes',
  );
  assert.equal(sources.get('kafka.sasl.password'), 'env');
  const oauth = loadConfig({
    KAFKA_SASL_MECHANISM: 'oauthbearer',
    KAFKA_SASL_OAUTH_TOKEN_URL: 'https://idp.example.com/token',
    KAFKA_SASL_OAUTH_CLIENT_ID: 'fleetsim',
    KAFKA_SASL_OAUTH_CLIENT_SECRET_FILE: file('client-secret', 'cs\n'),
    KAFKA_SASL_OAUTH_SCOPE: 'kafka',
  }).config.kafka.sasl;
  assert.deepEqual(
    [oauth.tokenUrl, oauth.clientId, oauth.clientSecret, oauth.scope],
    ['https://idp.example.com/token', 'fleetsim', 'cs', 'kafka'],
  );
});

test('missing or contradictory security settings are refused naming the variable, never the secret', () => {
  const missing = problems({ KAFKA_SASL_MECHANISM: 'scram-sha-256', KAFKA_SASL_USERNAME: 'bob' });
  assert.match(missing.join('\n'), /kafka\.sasl\.password is required .*KAFKA_SASL_PASSWORD_FILE/);
  const oauth = problems({ KAFKA_SASL_MECHANISM: 'oauthbearer' }).join('\n');
  assert.match(oauth, /KAFKA_SASL_OAUTH_TOKEN_URL/);
  assert.match(oauth, /KAFKA_SASL_OAUTH_CLIENT_ID/);
  assert.match(oauth, /KAFKA_SASL_OAUTH_CLIENT_SECRET/);
  assert.match(
    problems({ KAFKA_SASL_MECHANISM: 'kerberos' }).join('\n'),
    /kafka\.sasl\.mechanism = "\*\*\*\*\*\*\*\*" \(from env KAFKA_SASL_MECHANISM\)/,
  );
  assert.match(
    problems({ KAFKA_TLS_CA: PEM }).join('\n'),
    /kafka\.tls\.enabled must be true .*KAFKA_TLS_ENABLED=true/,
  );
  assert.match(
    problems({ KAFKA_TLS_ENABLED: 'true', KAFKA_TLS_CERT: PEM }).join('\n'),
    /kafka\.tls\.key must be PEM text .*KAFKA_TLS_KEY_FILE/,
  );
  const badKey = problems({
    KAFKA_TLS_ENABLED: 'true',
    KAFKA_TLS_CERT: PEM,
    KAFKA_TLS_KEY: 'hunter2',
  });
  assert.match(
    badKey.join('\n'),
    /kafka\.tls\.key = "\*\*\*\*\*\*\*\*" \(from env KAFKA_TLS_KEY\)/,
  );
  assert.ok(!badKey.join('\n').includes('hunter2'));
  assert.deepEqual(
    problems({ KAFKA_SASL_PASSWORD: 'a', KAFKA_SASL_PASSWORD_FILE: file('pw2', 'b') }),
    ['KAFKA_SASL_PASSWORD and KAFKA_SASL_PASSWORD_FILE are both set: set only one of them'],
  );
  assert.deepEqual(problems({ KAFKA_TLS_CA_FILE: join(dir, 'nope.pem') }), [
    `KAFKA_TLS_CA_FILE=${join(dir, 'nope.pem')}: cannot read the file (ENOENT)`,
  ]);
});

test('GET /api/v1/config masks the SASL section and the TLS key, not the CA', () => {
  const { config } = loadConfig({
    KAFKA_TLS_ENABLED: 'true',
    KAFKA_TLS_CA: PEM,
    KAFKA_TLS_CERT: PEM,
    KAFKA_TLS_KEY: KEY,
    KAFKA_SASL_MECHANISM: 'plain',
    KAFKA_SASL_USERNAME: 'alice',
    KAFKA_SASL_PASSWORD: 'pw',
  });
  const shown = maskSecrets(JSON.parse(JSON.stringify(config)) as typeof config);
  assert.equal(shown.kafka.tls.key, SECRET_MASK);
  assert.equal(shown.kafka.tls.ca, PEM.trim());
  assert.equal(shown.kafka.sasl.password, SECRET_MASK);
  assert.ok(!JSON.stringify(shown).includes('pw"'));
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KafkaSaslConfig, KafkaTlsConfig } from '../config/fleetsim.config.js';
import {
  describeConnectionError,
  describeSecurity,
  kafkajsSecurityOptions,
  KafkaSecurityFactory,
  platformaticSecurityOptions,
  securityFailure,
} from './kafka-security.js';

function kafka(tls: Partial<KafkaTlsConfig> = {}, sasl: Partial<KafkaSaslConfig> = {}) {
  return {
    tls: Object.assign(new KafkaTlsConfig(), tls),
    sasl: Object.assign(new KafkaSaslConfig(), sasl),
  };
}

const PEM = '-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----';

test('both engines get the same TLS options and their own spelling of the SASL mechanism', () => {
  const config = kafka(
    { enabled: true, ca: PEM, servername: 'kafka.local' },
    { mechanism: 'scram-sha-512', username: 'alice', password: 'pw' },
  );
  const security = new KafkaSecurityFactory().build(config);
  const js = kafkajsSecurityOptions(security);
  const plt = platformaticSecurityOptions(security);
  assert.deepEqual(js.ssl, { rejectUnauthorized: true, ca: [PEM], servername: 'kafka.local' });
  assert.deepEqual(plt.tls, js.ssl);
  assert.deepEqual(js.sasl, { mechanism: 'scram-sha-512', username: 'alice', password: 'pw' });
  assert.deepEqual(plt.sasl, { mechanism: 'SCRAM-SHA-512', username: 'alice', password: 'pw' });
  assert.equal(describeSecurity(security), 'TLS, SASL SCRAM-SHA-512 as user alice');
  assert.deepEqual(kafkajsSecurityOptions(new KafkaSecurityFactory().build(kafka())), {});
  assert.deepEqual(platformaticSecurityOptions(new KafkaSecurityFactory().build(kafka())), {});
});

test('OAUTHBEARER: both engines ask the one token provider, kept across clients while unchanged', async () => {
  const factory = new KafkaSecurityFactory();
  const config = kafka(
    { enabled: true },
    { mechanism: 'oauthbearer', tokenUrl: 'https://idp/t', clientId: 'c', clientSecret: 's' },
  );
  const a = factory.build(config);
  const b = factory.build(config);
  assert.ok(a.sasl?.oauth);
  assert.equal(a.sasl.oauth, b.sasl?.oauth, 'swapped clients share the cached token');
  const changed = factory.build(kafka({}, { ...config.sasl, clientSecret: 's2' }));
  assert.notEqual(changed.sasl?.oauth, a.sasl.oauth);
  (a.sasl.oauth as unknown as { token: () => Promise<unknown> }).token = async () => ({
    value: 'jwt',
    expiresAt: 0,
  });
  const js = kafkajsSecurityOptions(a).sasl as { oauthBearerProvider: () => Promise<unknown> };
  assert.deepEqual(await js.oauthBearerProvider(), { value: 'jwt' });
  const plt = platformaticSecurityOptions(a).sasl!;
  assert.equal(plt.mechanism, 'OAUTHBEARER');
  assert.equal(await (plt.token as () => Promise<string>)(), 'jwt');
});

test('an authentication error from either engine names the user, mechanism and where to fix it', () => {
  const config = kafka({}, { mechanism: 'scram-sha-256', username: 'bob', password: 'hunter2' });
  const kafkajsError = Object.assign(
    new Error('SASL SCRAM SHA256 authentication failed: invalid credentials'),
    { name: 'KafkaJSSASLAuthenticationError' },
  );
  const platformaticError = Object.assign(new Error('Cannot connect to any broker.'), {
    errors: [
      Object.assign(new Error('Connection to 127.0.0.1:9093 failed.'), {
        cause: Object.assign(new Error('SASL authentication failed.'), {
          name: 'AuthenticationError',
        }),
      }),
    ],
  });
  for (const err of [kafkajsError, platformaticError]) {
    assert.equal(securityFailure(err), 'authentication');
    const text = describeConnectionError(err, config);
    assert.match(
      text,
      /^SASL authentication failed for user bob \(SCRAM-SHA-256\): check kafka\.sasl/,
    );
    assert.ok(!text.includes('hunter2'));
  }
  const echoing = new Error('SASL authentication failed: password hunter2 rejected');
  assert.ok(!describeConnectionError(echoing, config).includes('hunter2'), 'redacted');
});

test('an untrusted certificate is told apart from other TLS failures and from an unreachable broker', () => {
  const config = kafka({ enabled: true });
  const untrusted = Object.assign(
    new Error('Connection error: self-signed certificate in certificate chain'),
    {
      cause: Object.assign(new Error('self-signed certificate in certificate chain'), {
        code: 'SELF_SIGNED_CERT_IN_CHAIN',
      }),
    },
  );
  assert.equal(securityFailure(untrusted), 'certificate');
  assert.match(
    describeConnectionError(untrusted, config),
    /^TLS certificate verify failed: .*KAFKA_TLS_CA_FILE/,
  );
  const handshake = Object.assign(new Error('write EPROTO wrong version number'), {
    code: 'EPROTO',
  });
  assert.equal(securityFailure(handshake), 'tls');
  assert.match(describeConnectionError(handshake, kafka()), /set KAFKA_TLS_ENABLED=true/);
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9092'), {
    code: 'ECONNREFUSED',
  });
  assert.equal(securityFailure(refused), undefined);
  assert.equal(describeConnectionError(refused, config), 'connect ECONNREFUSED 127.0.0.1:9092');
});

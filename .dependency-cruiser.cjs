/**
 * The layers of fleetsim, checked by `npm run deps` (part of `npm run lint`).
 * docs/architecture.md draws them: model → simulation, anomalies, scenarios → producer →
 * Kafka engine; Nest modules and HTTP at the edge.
 */
const FEATURES =
  '(simulation|anomalies|scenarios|backfill|devices|producer|health|config|metrics|http|kafka|logging|wiring|cluster)';
const KAFKA_CLIENTS = 'node_modules/(kafkajs|@platformatic/kafka)/';
const FRAMEWORKS =
  'node_modules/(@nestjs|@fastify|fastify|class-validator|class-transformer|prom-client|@willsoto|kafkajs|@platformatic)/';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'model-is-the-floor',
      comment: 'src/model/ imports nothing from the feature folders above it',
      severity: 'error',
      from: { path: '^src/model/' },
      to: { path: `^src/${FEATURES}/` },
    },
    {
      name: 'model-is-framework-free',
      comment: 'src/model/ imports no Nest, no Kafka client, no validation or metrics library',
      severity: 'error',
      from: { path: '^src/model/' },
      to: { path: FRAMEWORKS },
    },
    {
      name: 'src-not-test',
      comment: 'shipped code never imports test code (fakes live in test/support/)',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^test/' },
    },
    {
      name: 'producer-no-metrics',
      comment: 'the producer reports through ProducerObserver; src/wiring/ connects it to metrics',
      severity: 'error',
      from: { path: '^src/producer/' },
      to: { path: '^src/metrics/' },
    },
    {
      name: 'metrics-no-producer',
      comment: 'metrics declare the shapes they read (ProducerGauges), not producer types',
      severity: 'error',
      from: { path: '^src/metrics/' },
      to: { path: '^src/producer/' },
    },
    {
      name: 'producer-below-features',
      comment: 'the producer knows records, not the simulation, anomalies, scenarios or fleets',
      severity: 'error',
      from: { path: '^src/producer/' },
      to: {
        path: '^src/(simulation|anomalies|scenarios|backfill|devices|health|wiring|cluster)/',
      },
    },
    {
      name: 'producer-no-http',
      comment:
        'only the producer controller (the HTTP edge) uses src/http/ (problem docs, examples)',
      severity: 'error',
      from: { path: '^src/producer/', pathNot: '^src/producer/[^/]+\\.controller\\.ts$' },
      to: { path: '^src/http/' },
    },
    {
      name: 'kafka-client-only-in-engines',
      comment:
        'only a sender (src/producer/*.sender.ts, with its codecs and the platformatic sender’s ' +
        'request encoder record.batch.ts), src/kafka/ and the two cluster ' +
        'adapters (src/cluster/control.store.ts, src/cluster/ownership.group.ts) talk to a Kafka ' +
        'client; the batching, services and features know none',
      severity: 'error',
      from: {
        path: '^src/',
        pathNot:
          '^src/(kafka/|producer/([^/]+\\.sender|compression\\.codecs|record\\.batch)(\\.spec)?\\.ts$|cluster/(control\\.store|ownership\\.group)\\.ts$)',
      },
      to: { path: KAFKA_CLIENTS },
    },
    {
      name: 'simulation-below-anomalies-and-scenarios',
      comment: 'the simulation does not know who overrides or injects; they call it',
      severity: 'error',
      from: { path: '^src/simulation/' },
      to: { path: '^src/(anomalies|scenarios|backfill|devices|health|wiring|cluster)/' },
    },
    {
      name: 'anomalies-below-scenarios',
      severity: 'error',
      from: { path: '^src/anomalies/' },
      to: { path: '^src/(scenarios|backfill|devices|health|wiring)/' },
    },
    {
      name: 'config-below-features',
      comment: 'configuration is read by every feature and imports none of them',
      severity: 'error',
      from: { path: '^src/config/' },
      to: {
        path: '^src/(simulation|anomalies|scenarios|backfill|devices|producer|health|wiring|cluster)/',
      },
    },
    {
      name: 'cluster-below-features',
      comment:
        'the cluster (control topic, ownership) sits between the simulation and the features that ' +
        'share their state through it (anomalies, scenarios, fleets): they call it, never the reverse',
      severity: 'error',
      from: { path: '^src/cluster/' },
      to: { path: '^src/(anomalies|scenarios|backfill|devices|health|http|wiring)/' },
    },
    {
      name: 'services-throw-domain-errors',
      comment: 'services throw DomainError; only controllers and src/http/ speak HTTP',
      severity: 'error',
      from: { path: '^src/[^/]+/[^/]+\\.(service|rules|target|runner|pipeline)\\.ts$' },
      to: { path: '^src/http/' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|coverage|\\.cache)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
    },
  },
};

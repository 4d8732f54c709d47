import { Injectable } from '@nestjs/common';
import { FleetsimMetrics } from '../metrics/fleetsim.metrics.js';
import { ProducerService } from '../producer/producer.service.js';

/**
 * Connects the producer to the metrics, so neither knows the other: per-batch hooks feed the
 * histograms and counters, and the producer's books and state are read at scrape time.
 */
@Injectable()
export class ProducerMetrics {
  constructor(producer: ProducerService, metrics: FleetsimMetrics) {
    producer.observe({
      batchAcknowledged: (messages, _bytes, ms) => {
        metrics.sendLatency.observe(ms / 1000);
        metrics.batchSize.observe(messages);
      },
      batchFailed: (_n, _error, retriable) => {
        metrics.sendErrors.inc({ retriable: String(retriable) });
      },
    });
    metrics.watchProducer(() => ({
      stats: producer.stats(),
      bufferedBytes: producer.bufferedBytes,
      breaker: producer.circuit(),
      partitions: producer.topicInfo().partitions,
      consecutiveRefusals: producer.delivery().consecutiveRefusals,
      failing: producer.delivery().failing,
    }));
  }
}

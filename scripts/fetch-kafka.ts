/** Fetches the pinned Apache Kafka jars into .cache/ (what `npm start` does on first use). */
import { pinnedKafkaVersion, provisionKafkaJars } from '../src/kafka/embedded-kafka.js';

const libs = provisionKafkaJars((m) => console.log(m));
console.log(`Apache Kafka ${pinnedKafkaVersion()} jars are in ${libs}`);

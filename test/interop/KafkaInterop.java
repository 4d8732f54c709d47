import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.LogDirDescription;
import org.apache.kafka.clients.admin.ReplicaInfo;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * The Apache Kafka Java client's side of fleetsim's compression interop test
 * (test/integration/compression.test.ts). Run in source-file mode with the broker's jars:
 *
 *   java -cp '.cache/kafka/VERSION/libs/*' test/interop/KafkaInterop.java BROKERS < commands
 *
 * One command per line of standard input:
 *   produce TOPIC CODEC FILE   sends every "PARTITION BASE64KEY BASE64VALUE" line of FILE to
 *                              that partition with compression.type=CODEC, in order, acks=all
 *   consume TOPIC COUNT FILE   reads COUNT records from the beginning of every partition and
 *                              writes "PARTITION OFFSET BASE64KEY BASE64VALUE" lines to FILE
 *   logsize TOPIC              prints "logsize TOPIC BYTES": the bytes the topic's partitions
 *                              take in the broker's log directories
 * Prints "done" when every command succeeded; exits non-zero on the first failure.
 */
public class KafkaInterop {
  public static void main(String[] args) throws Exception {
    String brokers = args[0];
    BufferedReader in =
        new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    String line;
    while ((line = in.readLine()) != null) {
      String[] cmd = line.trim().split("\\s+");
      if (cmd.length == 0 || cmd[0].isEmpty()) continue;
      switch (cmd[0]) {
        case "produce" -> produce(brokers, cmd[1], cmd[2], Path.of(cmd[3]));
        case "consume" -> consume(brokers, cmd[1], Integer.parseInt(cmd[2]), Path.of(cmd[3]));
        case "logsize" -> System.out.println("logsize " + cmd[1] + " " + logSize(brokers, cmd[1]));
        default -> throw new IllegalArgumentException("unknown command: " + line);
      }
    }
    System.out.println("done");
  }

  static void produce(String brokers, String topic, String codec, Path file) throws Exception {
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, brokers);
    p.put(ProducerConfig.CLIENT_ID_CONFIG, "fleetsim-interop-java");
    p.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, codec);
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    p.put(ProducerConfig.LINGER_MS_CONFIG, "50");
    p.put(ProducerConfig.BATCH_SIZE_CONFIG, String.valueOf(512 * 1024));
    p.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, String.valueOf(4 * 1024 * 1024));
    p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
    p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
    Base64.Decoder b64 = Base64.getDecoder();
    try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p)) {
      List<java.util.concurrent.Future<?>> acks = new ArrayList<>();
      for (String l : Files.readAllLines(file, StandardCharsets.UTF_8)) {
        if (l.isEmpty()) continue;
        String[] f = l.split(" ", -1);
        acks.add(
            producer.send(
                new ProducerRecord<>(
                    topic, Integer.parseInt(f[0]), b64.decode(f[1]), b64.decode(f[2]))));
      }
      producer.flush();
      for (var ack : acks) ack.get();
    }
  }

  static void consume(String brokers, String topic, int count, Path file) throws Exception {
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, brokers);
    p.put(ConsumerConfig.CLIENT_ID_CONFIG, "fleetsim-interop-java");
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
    Base64.Encoder b64 = Base64.getEncoder();
    try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(p);
        PrintWriter out = new PrintWriter(Files.newBufferedWriter(file, StandardCharsets.UTF_8))) {
      List<TopicPartition> partitions = new ArrayList<>();
      consumer
          .partitionsFor(topic, Duration.ofSeconds(30))
          .forEach(info -> partitions.add(new TopicPartition(topic, info.partition())));
      consumer.assign(partitions);
      consumer.seekToBeginning(partitions);
      long deadline = System.currentTimeMillis() + 60_000;
      int seen = 0;
      while (seen < count) {
        if (System.currentTimeMillis() > deadline) {
          throw new IllegalStateException(
              "consumed " + seen + " of " + count + " records of " + topic + " in 60 s");
        }
        for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
          out.println(
              r.partition()
                  + " "
                  + r.offset()
                  + " "
                  + (r.key() == null ? "-" : b64.encodeToString(r.key()))
                  + " "
                  + (r.value() == null ? "-" : b64.encodeToString(r.value())));
          seen++;
        }
      }
    }
  }

  static long logSize(String brokers, String topic) throws Exception {
    Properties p = new Properties();
    p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, brokers);
    try (Admin admin = Admin.create(p)) {
      Collection<Integer> ids = new ArrayList<>();
      admin.describeCluster().nodes().get().forEach(n -> ids.add(n.id()));
      long bytes = 0;
      for (Map<String, LogDirDescription> dirs :
          admin.describeLogDirs(ids).allDescriptions().get().values()) {
        for (LogDirDescription dir : dirs.values()) {
          for (Map.Entry<TopicPartition, ReplicaInfo> e : dir.replicaInfos().entrySet()) {
            if (e.getKey().topic().equals(topic)) bytes += e.getValue().size();
          }
        }
      }
      return bytes;
    }
  }
}

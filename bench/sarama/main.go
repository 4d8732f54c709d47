// Command sarama-bench does fleetsim's job with the reference design's stack, Go and an
// IBM/sarama AsyncProducer: N devices with fleetsim-like ids, one keyed JSON reading of
// ~260 bytes per device per turn, built per message; partition = FNV-1a 32-bit of the key
// modulo the partition count; acks=1, no compression. Two modes: flat out (as fast as the
// producer takes messages) and a fixed rate spread evenly over time. After a warm-up it
// measures a window and prints one JSON line on stdout (see bench/README.md).
//
// It is built and started by `npm run bench` (bench/run-bench.ts); by hand:
//
//	go build -o ../../.cache/bench/sarama-bench . && \
//	  ../../.cache/bench/sarama-bench -brokers 127.0.0.1:9092 -topic t -mode rate -rate 100000
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	"github.com/rcrowley/go-metrics"
)

// fnv1a32 is the 32-bit FNV-1a hash of b, as fleetsim computes it for a device's key.
func fnv1a32(b []byte) uint32 {
	h := uint32(0x811c9dc5)
	for _, c := range b {
		h ^= uint32(c)
		h *= 0x01000193
	}
	return h
}

// fnvPartitioner sends a message to FNV-1a(key) modulo the partition count, like fleetsim.
type fnvPartitioner struct{}

func (fnvPartitioner) Partition(m *sarama.ProducerMessage, partitions int32) (int32, error) {
	key, ok := m.Key.(sarama.ByteEncoder)
	if !ok {
		return 0, fmt.Errorf("message without a byte key")
	}
	return int32(fnv1a32(key) % uint32(partitions)), nil
}

func (fnvPartitioner) RequiresConsistency() bool { return true }

// device is one simulated device: its key and the parts of its value that never change,
// built once, and the state its sensors carry from one reading to the next.
type device struct {
	key      sarama.ByteEncoder
	head     []byte // {"deviceId":"…","fleetId":"…","seq":
	place    []byte // ","location":{…},"readings":{
	seq      int64
	dev      [4]float64 // AR(1) deviations of temperature, humidity, pressure, current
	switchOn bool
}

var (
	sensorNames = [4]string{`"temperature":`, `,"humidity":`, `,"pressure":`, `,"current":`}
	sensorMean  = [4]float64{21.5, 45, 1013.25, 4.2}
	sensorSd    = [4]float64{1.8, 6, 4.5, 0.9}
	anomalyKind = [3]string{"spike", "drift", "stuck"}
)

// newDevices lays out n devices like fleetsim's bench: fleets "bench-0", "bench-1", … of
// perFleet devices, ~8 devices a room, 10 rooms a floor, 10 floors a building.
func newDevices(n, perFleet int, rng *rand.Rand) []device {
	ds := make([]device, n)
	for i := range ds {
		fleet, index := i/perFleet, i%perFleet
		rooms := max(1, (perFleet+7)/8)
		roomsPerFloor := min(10, rooms)
		floors := (rooms + roomsPerFloor - 1) / roomsPerFloor
		floorsPerBuilding := min(10, floors)
		r := index % (((floors + floorsPerBuilding - 1) / floorsPerBuilding) * floorsPerBuilding * roomsPerFloor)
		perBuilding := floorsPerBuilding * roomsPerFloor
		b, f, room := r/perBuilding+1, (r%perBuilding)/roomsPerFloor+1, r%roomsPerFloor+1
		fleetID := fmt.Sprintf("bench-%d", fleet)
		id := fmt.Sprintf("%s.b%d.f%d.r%d.d%d", fleetID, b, f, room, index+1)
		d := &ds[i]
		d.key = sarama.ByteEncoder(id)
		d.head = []byte(`{"deviceId":"` + id + `","fleetId":"` + fleetID + `","seq":`)
		d.place = fmt.Appendf(nil, `","location":{"building":%d,"floor":%d,"room":%d},"readings":{`, b, f, room)
		for j := range d.dev {
			d.dev[j] = rng.NormFloat64()
		}
		d.switchOn = rng.Float64() < 0.8
	}
	return ds
}

// reading advances the device by one reading at event time ts and returns its JSON value,
// in a fresh slice (the producer keeps it until the broker has acknowledged it).
func (d *device) reading(ts time.Time, rng *rand.Rand, anomalyRate float64) []byte {
	b := make([]byte, 0, 288)
	b = append(b, d.head...)
	b = strconv.AppendInt(b, d.seq, 10)
	d.seq++
	b = append(b, `,"ts":"`...)
	b = ts.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
	b = append(b, d.place...)
	for j := range d.dev {
		d.dev[j] = 0.95*d.dev[j] + 0.3122*rng.NormFloat64() // stationary sd 1
		v := sensorMean[j] + sensorSd[j]*d.dev[j]
		b = append(b, sensorNames[j]...)
		b = strconv.AppendFloat(b, math.Round(v*100)/100, 'f', -1, 64)
	}
	if rng.Float64() < 0.002 {
		d.switchOn = !d.switchOn
	}
	b = append(b, `,"switch":`...)
	b = strconv.AppendBool(b, d.switchOn)
	b = append(b, `},"anomaly":`...)
	if rng.Float64() < anomalyRate {
		k := rng.IntN(len(anomalyKind))
		b = fmt.Appendf(b, `{"id":"a-%08x","kind":"%s","sensor":"temperature"}}`, rng.Uint32(), anomalyKind[k])
	} else {
		b = append(b, "null}"...)
	}
	return b
}

// hist counts durations in 100 µs buckets up to 120 s (the last bucket holds everything above).
type hist struct {
	counts []uint32
	total  uint64
	max    time.Duration
}

const histStep = 100 * time.Microsecond

func newHist() *hist { return &hist{counts: make([]uint32, 1_200_001)} }

func (h *hist) record(d time.Duration) {
	i := max(0, min(int(d/histStep), len(h.counts)-1))
	h.counts[i]++
	h.total++
	h.max = max(h.max, d)
}

// percentile is the upper edge of the bucket holding the p-th percentile, in ms; NaN when empty.
func (h *hist) percentile(p float64) float64 {
	if h.total == 0 {
		return math.NaN()
	}
	rank := uint64(math.Ceil(p / 100 * float64(h.total)))
	var seen uint64
	for i, c := range h.counts {
		seen += uint64(c)
		if seen >= rank {
			return float64(time.Duration(i+1)*histStep) / 1e6
		}
	}
	return float64(h.max) / 1e6
}

type latency struct {
	P50     jsonFloat `json:"p50"`
	P99     jsonFloat `json:"p99"`
	Max     jsonFloat `json:"max"`
	Samples uint64    `json:"samples"`
}

// jsonFloat writes NaN as null.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, float64(f), 'f', 3, 64), nil
}

func (h *hist) summary() latency {
	return latency{jsonFloat(h.percentile(50)), jsonFloat(h.percentile(99)), jsonFloat(float64(h.max) / 1e6), h.total}
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

func peakRssMb() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Maxrss) / 1024 // KiB on Linux
}

func saramaVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, m := range info.Deps {
			if m.Path == "github.com/IBM/sarama" {
				return m.Version
			}
		}
	}
	return "unknown"
}

type settings struct {
	Acks           int     `json:"acks"`
	Compression    string  `json:"compression"`
	FlushMessages  int     `json:"flushMessages"`
	FlushMaxMsgs   int     `json:"flushMaxMessages"`
	FlushBytes     int     `json:"flushBytes"`
	FlushFrequency float64 `json:"flushFrequencyMs"`
	MaxOpenReqs    int     `json:"maxOpenRequests"`
	ChannelBuffer  int     `json:"channelBufferSize"`
	GoMetrics      bool    `json:"goMetrics"`
	TickMs         float64 `json:"tickMs"`
	GoMaxProcs     int     `json:"gomaxprocs"`
}

type final struct {
	Generated    uint64 `json:"generated"`
	Acknowledged uint64 `json:"acknowledged"`
	Errors       uint64 `json:"errors"`
	Balanced     bool   `json:"balanced"`
	FirstError   string `json:"firstError,omitempty"`
}

type result struct {
	Name            string    `json:"name"`
	Mode            string    `json:"mode"`
	Topic           string    `json:"topic"`
	Devices         int       `json:"devices"`
	TargetRate      jsonFloat `json:"targetRate"`
	WindowSec       float64   `json:"windowSec"`
	GeneratedPerSec float64   `json:"generatedPerSec"`
	AckedPerSec     float64   `json:"ackedPerSec"`
	MibPerSec       float64   `json:"mibPerSec"`
	Acknowledged    uint64    `json:"acknowledged"`
	Errors          uint64    `json:"errors"`
	AvgValueBytes   float64   `json:"avgValueBytes"`
	AvgKeyBytes     float64   `json:"avgKeyBytes"`
	CPUSeconds      float64   `json:"cpuSeconds"`
	CPUPct          float64   `json:"cpuPct"`
	CPUUsPerMsg     float64   `json:"cpuUsPerMsg"`
	PeakRssMb       float64   `json:"peakRssMb"`
	SendLatencyMs   latency   `json:"sendLatencyMs"`
	ScheduleLagMs   *latency  `json:"scheduleLagMs,omitempty"`
	Settings        settings  `json:"settings"`
	Final           final     `json:"final"`
	Go              string    `json:"go"`
	Sarama          string    `json:"sarama"`
}

func main() {
	var (
		brokers       = flag.String("brokers", "127.0.0.1:9092", "comma-separated bootstrap brokers")
		topic         = flag.String("topic", "fleetsim-sarama-bench", "topic (must exist)")
		name          = flag.String("name", "", "run name in the result (default: sarama-<mode>)")
		mode          = flag.String("mode", "flat-out", "flat-out | rate")
		rate          = flag.Float64("rate", 100_000, "messages per second in rate mode")
		devices       = flag.Int("devices", 100_000, "devices (one reading each per turn)")
		perFleet      = flag.Int("devices-per-fleet", 10_000, "devices per fleet (ids bench-0.…, bench-1.…)")
		warmup        = flag.Duration("warmup", 5*time.Second, "warm-up before the measured window")
		measure       = flag.Duration("measure", 20*time.Second, "measured window")
		anomalyRate   = flag.Float64("anomaly-rate", 0.01, "share of readings with an anomaly label")
		flushMessages = flag.Int("flush-messages", 1000, "Producer.Flush.Messages (fleetsim batchSize)")
		flushMax      = flag.Int("flush-max-messages", 1000, "Producer.Flush.MaxMessages: most messages per request")
		flushBytes    = flag.Int("flush-bytes", 1<<20, "Producer.Flush.Bytes (fleetsim batchBytes)")
		flushFreq     = flag.Duration("flush-frequency", 5*time.Millisecond, "Producer.Flush.Frequency (fleetsim lingerMs)")
		maxOpen       = flag.Int("max-open-requests", 5, "Net.MaxOpenRequests (fleetsim maxInFlightRequests)")
		chanBuf       = flag.Int("channel-buffer", 256, "ChannelBufferSize (sarama's default)")
		goMetrics     = flag.Bool("go-metrics", true, "keep sarama's go-metrics registry (its default)")
		tick          = flag.Duration("tick", time.Millisecond, "rate mode: how often due readings are sent")
		drainTimeout  = flag.Duration("drain-timeout", 60*time.Second, "most time to wait for in-flight messages at the end")
	)
	flag.Parse()
	if *mode != "flat-out" && *mode != "rate" {
		fail("-mode must be flat-out or rate")
	}
	if *devices < 1 || *perFleet < 1 || (*mode == "rate" && !(*rate > 0)) {
		fail("-devices, -devices-per-fleet and -rate must be positive")
	}
	if *name == "" {
		*name = "sarama-" + *mode
	}
	if !*goMetrics {
		metrics.UseNilMetrics = true
	}

	cfg := sarama.NewConfig()
	cfg.ClientID = "fleetsim-sarama-bench"
	cfg.Producer.RequiredAcks = sarama.WaitForLocal
	cfg.Producer.Compression = sarama.CompressionNone
	cfg.Producer.Idempotent = false
	cfg.Producer.Return.Successes = true
	cfg.Producer.Return.Errors = true
	cfg.Producer.Partitioner = func(string) sarama.Partitioner { return fnvPartitioner{} }
	cfg.Producer.Flush.Messages = *flushMessages
	cfg.Producer.Flush.MaxMessages = *flushMax
	cfg.Producer.Flush.Bytes = *flushBytes
	cfg.Producer.Flush.Frequency = *flushFreq
	cfg.Net.MaxOpenRequests = *maxOpen
	cfg.ChannelBufferSize = *chanBuf

	producer, err := sarama.NewAsyncProducer(strings.Split(*brokers, ","), cfg)
	if err != nil {
		fail("cannot start the producer: " + err.Error())
	}

	// Devices first, so that building them does not count as schedule lag.
	rng := rand.New(rand.NewPCG(7, uint64(*devices)))
	ds := newDevices(*devices, *perFleet, rng)

	// The window is the time between windowStart and windowEnd (ns since start); per-message
	// figures count messages generated inside it.
	start := time.Now()
	since := func() int64 { return int64(time.Since(start)) }
	var windowStart, windowEnd atomic.Int64
	windowStart.Store(math.MaxInt64)
	windowEnd.Store(math.MaxInt64)
	inWindow := func(t int64) bool { return t >= windowStart.Load() && t < windowEnd.Load() }

	var generated, acked, failed, ackedBytes atomic.Uint64
	var firstErr atomic.Value
	sendLat := newHist()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for m := range producer.Successes() {
			t := m.Metadata.(int64)
			acked.Add(1)
			ackedBytes.Add(uint64(m.Key.Length() + m.Value.Length()))
			if inWindow(t) {
				sendLat.record(time.Duration(since() - t))
			}
		}
	}()
	go func() {
		defer wg.Done()
		for e := range producer.Errors() {
			failed.Add(1)
			firstErr.CompareAndSwap(nil, e.Err.Error())
		}
	}()

	// The generator: one goroutine builds every reading and hands it to the producer, whose
	// input channel blocks when the producer is behind (the flat-out run's backpressure).
	stop := make(chan struct{})
	genDone := make(chan struct{})
	var lag *hist
	if *mode == "rate" {
		lag = newHist()
	}
	var windowKeyBytes, windowValueBytes, windowMsgs uint64 // generator goroutine only
	send := func(d *device, ts time.Time, scheduled int64) {
		now := since()
		value := d.reading(ts, rng, *anomalyRate)
		if lag != nil && inWindow(now) {
			lag.record(time.Duration(now - scheduled))
		}
		if inWindow(now) {
			windowKeyBytes += uint64(len(d.key))
			windowValueBytes += uint64(len(value))
			windowMsgs++
		}
		producer.Input() <- &sarama.ProducerMessage{
			Topic:    *topic,
			Key:      d.key,
			Value:    sarama.ByteEncoder(value),
			Metadata: now,
		}
		generated.Add(1)
	}
	go func() {
		defer close(genDone)
		if *mode == "flat-out" {
			for i := 0; ; i++ {
				if i == len(ds) {
					i = 0
				}
				if i&255 == 0 {
					select {
					case <-stop:
						return
					default:
					}
				}
				send(&ds[i], time.Now(), since())
			}
		}
		// Rate mode: message k is due at k/rate seconds after the start, devices in turn, so
		// every device sends once per len(ds)/rate seconds and the load is spread evenly.
		ticker := time.NewTicker(*tick)
		defer ticker.Stop()
		perMsg := float64(time.Second) / *rate
		var k int64
		for {
			select {
			case <-stop:
				return
			case <-ticker.C:
			}
			due := int64(float64(since()) / perMsg)
			for ; k < due; k++ {
				scheduled := int64(float64(k) * perMsg)
				send(&ds[k%int64(len(ds))], start.Add(time.Duration(scheduled)), scheduled)
			}
		}
	}()

	time.Sleep(*warmup)
	ws := since()
	windowStart.Store(ws)
	cpu0, acked0, gen0, bytes0 := cpuSeconds(), acked.Load(), generated.Load(), ackedBytes.Load()
	time.Sleep(*measure)
	we := since()
	windowEnd.Store(we)
	cpu1, acked1, gen1, bytes1 := cpuSeconds(), acked.Load(), generated.Load(), ackedBytes.Load()

	close(stop)
	<-genDone
	producer.AsyncClose()
	drained := make(chan struct{})
	go func() { wg.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(*drainTimeout):
	}

	secs := float64(we-ws) / 1e9
	n := acked1 - acked0
	cpu := cpu1 - cpu0
	res := result{
		Name:            *name,
		Mode:            *mode,
		Topic:           *topic,
		Devices:         *devices,
		TargetRate:      jsonFloat(math.NaN()),
		WindowSec:       secs,
		GeneratedPerSec: float64(gen1-gen0) / secs,
		AckedPerSec:     float64(n) / secs,
		MibPerSec:       float64(bytes1-bytes0) / secs / (1 << 20),
		Acknowledged:    n,
		Errors:          failed.Load(),
		AvgValueBytes:   float64(windowValueBytes) / float64(max(1, windowMsgs)),
		AvgKeyBytes:     float64(windowKeyBytes) / float64(max(1, windowMsgs)),
		CPUSeconds:      cpu,
		CPUPct:          cpu * 100 / secs,
		CPUUsPerMsg:     cpu * 1e6 / float64(max(1, n)),
		PeakRssMb:       peakRssMb(),
		SendLatencyMs:   sendLat.summary(),
		Settings: settings{
			Acks: 1, Compression: "none",
			FlushMessages: *flushMessages, FlushMaxMsgs: *flushMax, FlushBytes: *flushBytes,
			FlushFrequency: float64(*flushFreq) / 1e6, MaxOpenReqs: *maxOpen, ChannelBuffer: *chanBuf,
			GoMetrics: *goMetrics, TickMs: float64(*tick) / 1e6, GoMaxProcs: runtime.GOMAXPROCS(0),
		},
		Final: final{
			Generated: generated.Load(), Acknowledged: acked.Load(), Errors: failed.Load(),
			Balanced: generated.Load() == acked.Load()+failed.Load(),
		},
		Go:     runtime.Version(),
		Sarama: saramaVersion(),
	}
	if *mode == "rate" {
		res.TargetRate = jsonFloat(*rate)
		s := lag.summary()
		res.ScheduleLagMs = &s
	}
	if e, ok := firstErr.Load().(string); ok {
		res.Final.FirstError = e
	}
	out, err := json.Marshal(res)
	if err != nil {
		fail(err.Error())
	}
	fmt.Println(string(out))
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "sarama-bench: "+msg)
	os.Exit(2)
}
